package gobuild_test

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"runtime"
	"testing"

	"github.com/slimage/slimage/gobuild"
)

// The ELF machine alone does not name a GOARCH (ppc64 or ppc64le, mips or
// mips64le): the facts read it with the word size and byte order. The test
// binary itself (64-bit, little-endian here) is relabelled machine by
// machine.
func TestReadBinaryFacts(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("relabels a linux/amd64 ELF; this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		machine elf.Machine
		want    string
	}{
		{elf.EM_X86_64, "ELF linux/amd64"},
		{elf.EM_AARCH64, "ELF linux/arm64"},
		{elf.EM_PPC64, "ELF linux/ppc64le"},
		{elf.EM_MIPS, "ELF linux/mips64le"},
		{elf.EM_RISCV, "ELF linux/riscv64"},
		{elf.EM_LOONGARCH, "ELF linux/loong64"},
	}
	for _, tt := range tests {
		t.Run(tt.machine.String(), func(t *testing.T) {
			b := bytes.Clone(data)
			binary.LittleEndian.PutUint16(b[18:], uint16(tt.machine)) // e_machine
			f, err := gobuild.ReadBinaryFacts(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Format + " " + f.OS + "/" + f.Arch; got != tt.want {
				t.Errorf("facts %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := gobuild.ReadBinaryFacts(bytes.NewReader([]byte("#!/bin/sh\necho hi\n"))); err == nil {
		t.Error("a shell script read as an executable")
	}
}
