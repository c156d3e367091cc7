module golang.org/x/net

go 1.18

require (
	golang.org/x/crypto v0.32.0
	golang.org/x/sys v0.29.0
	golang.org/x/term v0.28.0
	golang.org/x/text v0.21.0
)
