package verify

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/cireport"
	"github.com/slimage/slimage/internal/human"
	"github.com/slimage/slimage/internal/outdir"
)

// Run is one image verified (or not: Err says why no checks ran), as the
// CI reports see it.
type Run struct {
	Image, Platform string
	Report          *Report // nil when verify stopped before its checks
	Err             error
}

// JUnitPath is where WriteCIReports puts the JUnit XML file.
func JUnitPath(dist string) string { return filepath.Join(dist, config.VerifyFolder, "junit.xml") }

// WriteCIReports writes what CI systems read of a verify: the JUnit XML
// file, one test suite per image and platform, one test case per check;
// under GitHub Actions also a Markdown summary appended to the job summary
// and one ::error annotation per failed check, written to out.
func WriteCIReports(dist string, runs []Run, out io.Writer) error {
	if err := outdir.Ensure(dist, filepath.Dir(JUnitPath(dist))); err != nil {
		return fmt.Errorf("write the CI reports: %w", err)
	}
	var suites []cireport.Suite
	for _, r := range runs {
		s := cireport.Suite{Name: "verify " + r.Image + " " + r.Platform}
		class := cireport.Class("verify", r.Platform)
		title := strings.TrimSpace("verify "+r.Image+" "+r.Platform) + ": "
		if r.Report == nil {
			msg := "verify did not run its checks"
			if r.Err != nil {
				msg = r.Err.Error()
			}
			s.Cases = append(s.Cases, cireport.Case{Name: "verify", Class: class, Failure: msg, Error: true})
			cireport.Annotate(out, title+"verify", msg)
		} else {
			for _, ch := range r.Report.Checks {
				c := cireport.Case{Name: ch.Name, Class: class, Output: "expected: " + ch.Expected + "\ngot: " + ch.Got}
				if !ch.Pass {
					c.Failure, c.Detail = ch.Cause, c.Output+"\n"+ch.Cause
					cireport.Annotate(out, title+ch.Name, ch.Cause)
				}
				s.Cases = append(s.Cases, c)
			}
		}
		suites = append(suites, s)
	}
	if err := cireport.WriteJUnit(JUnitPath(dist), "slimage verify", suites); err != nil {
		return err
	}
	return cireport.AppendSummary(summary(runs))
}

// summary is the Markdown GitHub shows on the job's page.
func summary(runs []Run) string {
	var b strings.Builder
	for _, r := range runs {
		status := "passed"
		if r.Report == nil || !r.Report.Passed {
			status = "**failed**"
		}
		fmt.Fprintf(&b, "### slimage verify: `%s` %s %s\n\n", r.Image, r.Platform, status)
		if r.Report == nil {
			fmt.Fprintf(&b, "%s\n\n", cireport.Cell(fmt.Sprint(r.Err)))
			continue
		}
		fmt.Fprintf(&b, "Image size: %s\n\n| check | expected | got | result |\n|---|---|---|---|\n", human.Size(r.Report.Size))
		for _, ch := range r.Report.Checks {
			result := "pass"
			if !ch.Pass {
				result = "**FAIL**: " + cireport.Cell(ch.Cause)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cireport.Cell(ch.Name), cireport.Cell(ch.Expected), cireport.Cell(ch.Got), result)
		}
		b.WriteString("\n")
	}
	return b.String()
}
