module example.com/footprint

go 1.24

require (
	golang.org/x/net v0.34.0
	golang.org/x/sys v0.29.0
	golang.org/x/text v0.21.0
)
