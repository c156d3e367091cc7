module github.com/slimage/slimage

go 1.23.0

require (
	github.com/magefile/mage v1.17.2
	golang.org/x/mod v0.25.0
)
