//go:build !linux

package testkit

import "testing"

// ReadOnly needs Linux here.
func ReadOnly(t testing.TB, dir string) {
	Unavailable(t, "read-only folders are made on Linux only", "run the tests on Linux")
}

// SmallDisk needs Linux (tmpfs) here.
func SmallDisk(t testing.TB, size int64) string {
	Unavailable(t, "small disks are made on Linux only", "run the tests on Linux")
	return ""
}

// FillDisk needs Linux here.
func FillDisk(t testing.TB, dir string) string {
	Unavailable(t, "disks are filled on Linux only", "run the tests on Linux")
	return ""
}

// Proc is a process as /proc shows it (Linux only).
type Proc struct {
	Pid  int
	Comm string
	Args []string
}

// Descendants needs /proc (Linux).
func Descendants(pid int) []Proc { return nil }

// Alive needs /proc (Linux).
func Alive(pid int) bool { return false }

// Mkfifo makes named pipes on Linux only here.
func Mkfifo(t testing.TB, path string) {
	Unavailable(t, "named pipes are made on Linux only", "run the tests on Linux")
}
