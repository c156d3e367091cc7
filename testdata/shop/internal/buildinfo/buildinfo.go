// Package buildinfo holds what the build stamps into the binary.
package buildinfo

// Version is set at build time: -ldflags "-X example.com/shop/internal/buildinfo.Version=v1.2.3".
var Version = "dev"
