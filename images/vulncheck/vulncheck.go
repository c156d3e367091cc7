// Package vulncheck checks built binaries for known vulnerabilities with
// govulncheck, through golang.org/x/vuln's own Go API: the Go team's
// answer to the standard-library advisories that image scanners miss.
package vulncheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/vuln/scan"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/images/cireport"
	"github.com/slimage/slimage/internal/atomicfile"
	"github.com/slimage/slimage/internal/human"
	"github.com/slimage/slimage/internal/outdir"
)

// DefaultDB is the Go vulnerability database.
const DefaultDB = "https://vuln.go.dev"

// Finding is a vulnerability whose vulnerable symbol the binary links:
// reachable, as govulncheck's binary mode sees it.
type Finding struct {
	ID      string `json:"id"`
	Module  string `json:"module"`
	Version string `json:"version"`
	Fixed   string `json:"fixed,omitempty"` // "" when no fix exists
	Symbol  string `json:"symbol"`          // package.Function or package.Receiver.Method
	Allowed bool   `json:"allowed,omitempty"`
}

// Binary runs govulncheck on the binary at path against db (a URL, file://
// for a local copy) and returns its reachable findings, sorted. Findings of
// a module the binary links without its vulnerable symbols are left out,
// as govulncheck's own report does.
func Binary(ctx context.Context, path, db string) ([]Finding, error) {
	if db == "" {
		db = DefaultDB
	}
	var out, errOut bytes.Buffer
	cmd := scan.Command(ctx, "-mode=binary", "-format=json", "-db="+db, path)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		return nil, cause(err, errOut.String())
	}
	if err := cmd.Wait(); err != nil {
		return nil, cause(err, errOut.String())
	}
	return reachable(&out)
}

func cause(err error, stderr string) error {
	if line := strings.TrimSpace(stderr); line != "" {
		first, _, _ := strings.Cut(line, "\n")
		return errors.New(first)
	}
	return err
}

// reachable reads govulncheck's JSON stream and keeps the symbol-level
// findings, one per advisory and symbol.
func reachable(r io.Reader) ([]Finding, error) {
	type frame struct {
		Module, Version, Package, Function, Receiver string
	}
	var msg struct {
		Finding *struct {
			OSV          string   `json:"osv"`
			FixedVersion string   `json:"fixed_version"`
			Trace        []*frame `json:"trace"`
		} `json:"finding"`
	}
	seen := map[string]bool{}
	var out []Finding
	dec := json.NewDecoder(r)
	for {
		msg.Finding = nil
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("read govulncheck's output: %w", err)
		}
		f := msg.Finding
		if f == nil || len(f.Trace) == 0 || f.Trace[0].Function == "" {
			continue
		}
		fr := f.Trace[0]
		symbol := fr.Function
		if fr.Receiver != "" {
			symbol = strings.TrimPrefix(fr.Receiver, "*") + "." + symbol
		}
		symbol = fr.Package + "." + symbol
		if key := f.OSV + " " + symbol; !seen[key] {
			seen[key] = true
			out = append(out, Finding{ID: f.OSV, Module: fr.Module, Version: fr.Version, Fixed: f.FixedVersion, Symbol: symbol})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].Symbol < out[j].Symbol
	})
	return out, nil
}

// Report is one platform's check, as written to <dist>/vuln/<os>_<arch>.json.
type Report struct {
	Platform string    `json:"platform"`
	Binary   string    `json:"binary"`
	DB       string    `json:"db"`
	Findings []Finding `json:"findings"`
}

// Settings are what Check reads of the configuration (SettingsOf): the
// database, the advisories allowed, the binaries to check (one per
// platform), and where the reports go.
type Settings struct {
	DB       string          // "" is DefaultDB
	Allow    []string        // advisory IDs reported but not failed on
	Binaries []config.Binary // Platform and Path are read
	Reports  string          // the folder of the JSON reports, inside Dist
	Dist     string
}

// SettingsOf translates c's settings for Check: the binaries build made,
// or where it puts them.
func SettingsOf(c *config.Config) Settings {
	s := Settings{DB: c.VulnDB, Allow: c.VulnAllow, Reports: c.Output(config.VulnFolder), Dist: c.Dist}
	for _, p := range c.Platforms {
		s.Binaries = append(s.Binaries, gobuild.Made(c, p))
	}
	return s
}

// Check checks each of c's built binaries against SLIMAGE_VULN_DB, prints
// one line per reachable finding, writes each platform's report, and fails
// on any finding whose ID SLIMAGE_VULN_ALLOW does not list.
func Check(ctx context.Context, c *config.Config, out io.Writer) error {
	return check(ctx, SettingsOf(c), out)
}

func check(ctx context.Context, s Settings, out io.Writer) error {
	allowed := map[string]bool{}
	for _, id := range s.Allow {
		allowed[id] = true
	}
	db := s.DB
	if db == "" {
		db = DefaultDB
	}
	if err := outdir.Ensure(s.Dist, filepath.Dir(JUnitPath(s.Dist))); err != nil {
		return fmt.Errorf("vulncheck: %w", err)
	}
	var blocking []string
	var suites []cireport.Suite
	var md strings.Builder
	for _, b := range s.Binaries {
		p, bin := b.Platform, b.Path
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("vulncheck %s: no binary at %s: build it first (mage build)", p, human.Path(bin))
		}
		findings, err := Binary(ctx, bin, db)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("vulncheck %s %s: %s: check that SLIMAGE_VULN_DB (%s) answers (the network, or the copy's folder)", p, human.Path(bin), err, db)
		}
		for i, f := range findings {
			note := ""
			if findings[i].Allowed = allowed[f.ID]; findings[i].Allowed {
				note = "  (allowed by SLIMAGE_VULN_ALLOW)"
			} else {
				blocking = append(blocking, f.ID+" in "+f.Module+"@"+f.Version)
			}
			fmt.Fprintf(out, "vuln %s  %s  %s@%s  %s  %s%s\n", p, f.ID, f.Module, f.Version, f.fixedText(), f.Symbol, note)
		}
		path := filepath.Join(s.Reports, p.DistDir()+".json")
		data, err := json.MarshalIndent(Report{Platform: p.String(), Binary: filepath.Base(bin), DB: db, Findings: nonNil(findings)}, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.Write(path, append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("vulncheck %s: write %s: %w", p, path, err)
		}
		fmt.Fprintf(out, "vulncheck %s  %d reachable  report: %s\n", p, len(findings), human.Path(path))
		suites = append(suites, ciSuite(p.String(), findings, out))
		md.WriteString(summary(p.String(), findings))
	}
	if err := cireport.WriteJUnit(JUnitPath(s.Dist), "slimage vulncheck", suites); err != nil {
		return err
	}
	if err := cireport.AppendSummary(md.String()); err != nil {
		return err
	}
	if len(blocking) > 0 {
		vulns := "vulnerabilities"
		if len(blocking) == 1 {
			vulns = "vulnerability"
		}
		return fmt.Errorf("vulncheck: %d reachable %s (%s): upgrade each module to its fixed version, or list the ID in SLIMAGE_VULN_ALLOW once you have judged it", len(blocking), vulns, strings.Join(blocking, ", "))
	}
	return nil
}

func nonNil(f []Finding) []Finding {
	if f == nil {
		return []Finding{}
	}
	return f
}

// JUnitPath is where Check puts its JUnit XML file.
func JUnitPath(dist string) string { return filepath.Join(dist, config.VulnFolder, "junit.xml") }

// ciSuite is one platform's findings as test cases (a finding not allowed
// fails, and is annotated under GitHub Actions), or one passing case.
func ciSuite(platform string, findings []Finding, out io.Writer) cireport.Suite {
	s := cireport.Suite{Name: "vulncheck " + platform}
	class := cireport.Class("vulncheck", platform)
	if len(findings) == 0 {
		s.Cases = append(s.Cases, cireport.Case{Name: "no reachable vulnerabilities", Class: class})
	}
	for _, f := range findings {
		c := cireport.Case{Name: f.ID + " " + f.Symbol, Class: class, Output: f.Module + "@" + f.Version + ", " + f.fixedText()}
		if !f.Allowed {
			fix := "upgrade to " + f.Fixed
			if f.Fixed == "" {
				fix = "no fixed version yet: stop using " + f.Symbol
			}
			c.Failure = fmt.Sprintf("%s: %s@%s reaches %s: %s, or list %s in SLIMAGE_VULN_ALLOW", f.ID, f.Module, f.Version, f.Symbol, fix, f.ID)
			c.Detail = c.Failure
			cireport.Annotate(out, "vulncheck "+platform+": "+f.ID, c.Failure)
		}
		s.Cases = append(s.Cases, c)
	}
	return s
}

func summary(platform string, findings []Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### slimage vulncheck %s: %d reachable\n\n", platform, len(findings))
	if len(findings) == 0 {
		return b.String()
	}
	b.WriteString("| ID | module | fixed in | symbol | |\n|---|---|---|---|---|\n")
	for _, f := range findings {
		state := "**blocks**"
		if f.Allowed {
			state = "allowed"
		}
		fmt.Fprintf(&b, "| %s | %s@%s | %s | %s | %s |\n", f.ID, f.Module, f.Version, orNone(f.Fixed), cireport.Cell(f.Symbol), state)
	}
	return b.String() + "\n"
}

// fixedText says where f is fixed, if anywhere.
func (f Finding) fixedText() string {
	if f.Fixed == "" {
		return "no fix yet"
	}
	return "fixed in " + f.Fixed
}

func orNone(fixed string) string {
	if fixed == "" {
		return "no fix yet"
	}
	return fixed
}
