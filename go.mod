module github.com/slimage/slimage

go 1.22

require (
	github.com/magefile/mage v1.15.0
	golang.org/x/mod v0.11.0
)
