package gobuild

import (
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/slimage/slimage/config"
)

// elfMachines maps GOARCH to the ELF machine its binaries must carry.
var elfMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "386": elf.EM_386, "arm64": elf.EM_AARCH64, "arm": elf.EM_ARM,
	"ppc64": elf.EM_PPC64, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV,
	"mips": elf.EM_MIPS, "mipsle": elf.EM_MIPS, "mips64": elf.EM_MIPS, "mips64le": elf.EM_MIPS,
	"loong64": elf.EM_LOONGARCH,
}

var peMachines = map[string]uint16{
	"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "386": pe.IMAGE_FILE_MACHINE_I386,
	"arm64": pe.IMAGE_FILE_MACHINE_ARM64, "arm": pe.IMAGE_FILE_MACHINE_ARMNT,
}

var machoCPUs = map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}

// CheckBinary proves the file at path is what slimage promises for p: built
// for p's architecture, static (no ELF interpreter, no shared libraries) and
// stripped (no symbol table, no DWARF). A scratch image has no libc and no
// loader, so a dynamic binary fails there with a baffling "no such file".
// Windows and macOS binaries always link the system's libraries: for them
// only the architecture and the stripping are checked.
func CheckBinary(path string, p config.Platform) error {
	switch p.OS {
	case "windows":
		return checkPE(path, p)
	case "darwin", "ios":
		return checkMachO(path, p)
	}
	return checkELF(path, p)
}

func checkELF(path string, p config.Platform) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("is not an ELF executable: %w", err)
	}
	defer f.Close()
	if want, ok := elfMachines[p.Arch]; ok && f.Machine != want {
		return fmt.Errorf("is built for %s, not %s: check GOARCH in GOFLAGS or the environment", f.Machine, p)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return errors.New("is dynamically linked (it has an ELF interpreter): it cannot start in a scratch image: build with CGO_ENABLED=0 and no -linkmode=external")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("needs shared libraries (%s): it cannot start in a scratch image: build with CGO_ENABLED=0", strings.Join(libs, ", "))
	}
	if f.Section(".symtab") != nil {
		return errors.New("is not stripped (it has a .symtab): build with -ldflags=-s")
	}
	for _, s := range f.Sections {
		if strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			return fmt.Errorf("carries DWARF (%s): build with -ldflags=-w", s.Name)
		}
	}
	return nil
}

func checkPE(path string, p config.Platform) error {
	f, err := pe.Open(path)
	if err != nil {
		return fmt.Errorf("is not a PE executable: %w", err)
	}
	defer f.Close()
	if want, ok := peMachines[p.Arch]; ok && f.Machine != want {
		return fmt.Errorf("is built for PE machine %#x, not %s", f.Machine, p)
	}
	if f.NumberOfSymbols > 0 {
		return errors.New("is not stripped (it has a COFF symbol table): build with -ldflags=-s")
	}
	for _, s := range f.Sections {
		if strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			return fmt.Errorf("carries DWARF (%s): build with -ldflags=-w", s.Name)
		}
	}
	return nil
}

func checkMachO(path string, p config.Platform) error {
	f, err := macho.Open(path)
	if err != nil {
		return fmt.Errorf("is not a Mach-O executable: %w", err)
	}
	defer f.Close()
	if want, ok := machoCPUs[p.Arch]; ok && f.Cpu != want {
		return fmt.Errorf("is built for %s, not %s", f.Cpu, p)
	}
	for _, s := range f.Sections {
		if strings.HasPrefix(s.Name, "__debug_") || s.Seg == "__DWARF" {
			return fmt.Errorf("carries DWARF (%s): build with -ldflags=-w", s.Name)
		}
	}
	return nil
}

// BinaryFacts is what an executable's headers say it runs on.
type BinaryFacts struct {
	Format string // ELF, PE or Mach-O
	OS     string // GOOS: linux for ELF (other systems' ELF carry their OS ABI)
	Arch   string // GOARCH, from the machine, word size and byte order
	Interp string // the ELF interpreter a dynamic binary needs; "" for a static one
}

func (f BinaryFacts) String() string {
	s := f.Format + " " + f.OS + "/" + f.Arch
	if f.Interp != "" {
		return s + ", dynamic (" + f.Interp + ")"
	}
	return s + ", static"
}

// ReadBinaryFacts reads r's executable headers: ELF, PE or Mach-O.
func ReadBinaryFacts(r io.ReaderAt) (BinaryFacts, error) {
	if f, err := elf.NewFile(r); err == nil {
		defer f.Close()
		facts := BinaryFacts{Format: "ELF", OS: elfOS(f.OSABI), Arch: elfArch(f)}
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				data := make([]byte, prog.Filesz)
				if _, err := prog.ReadAt(data, 0); err == nil {
					facts.Interp = strings.TrimRight(string(data), "\x00")
				}
			}
		}
		return facts, nil
	}
	if f, err := pe.NewFile(r); err == nil {
		defer f.Close()
		facts := BinaryFacts{Format: "PE", OS: "windows", Arch: fmt.Sprintf("machine %#x", f.Machine)}
		for arch, m := range peMachines {
			if m == f.Machine {
				facts.Arch = arch
			}
		}
		return facts, nil
	}
	if f, err := macho.NewFile(r); err == nil {
		defer f.Close()
		facts := BinaryFacts{Format: "Mach-O", OS: "darwin", Arch: f.Cpu.String()}
		for arch, c := range machoCPUs {
			if c == f.Cpu {
				facts.Arch = arch
			}
		}
		return facts, nil
	}
	return BinaryFacts{}, errors.New("is not an executable (neither ELF, PE nor Mach-O)")
}

func elfOS(abi elf.OSABI) string {
	switch abi {
	case elf.ELFOSABI_FREEBSD:
		return "freebsd"
	case elf.ELFOSABI_NETBSD:
		return "netbsd"
	case elf.ELFOSABI_OPENBSD:
		return "openbsd"
	case elf.ELFOSABI_SOLARIS:
		return "solaris"
	}
	return "linux"
}

// elfArch names f's GOARCH: the machine alone leaves ppc64 and mips
// ambiguous, the word size and byte order do not.
func elfArch(f *elf.File) string {
	le := f.Data == elf.ELFDATA2LSB
	wide := f.Class == elf.ELFCLASS64
	switch f.Machine {
	case elf.EM_PPC64:
		if le {
			return "ppc64le"
		}
		return "ppc64"
	case elf.EM_MIPS:
		arch := "mips"
		if wide {
			arch = "mips64"
		}
		if le {
			arch += "le"
		}
		return arch
	}
	for arch, m := range elfMachines {
		if m == f.Machine && !strings.HasPrefix(arch, "mips") && !strings.HasPrefix(arch, "ppc64") {
			return arch
		}
	}
	return f.Machine.String()
}
