package verify

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/slimage/slimage/internal/atomicfile"
	"github.com/slimage/slimage/internal/human"
)

// Run is one image verified (or not: Err says why no checks ran), as the
// CI reports see it.
type Run struct {
	Image, Platform string
	Report          *Report // nil when verify stopped before its checks
	Err             error
}

// JUnitPath is where WriteCIReports puts the JUnit XML file.
func JUnitPath(dist string) string { return filepath.Join(dist, "verify", "junit.xml") }

// WriteCIReports writes what CI systems read of a verify: the JUnit XML
// file (GitLab, Jenkins, Azure DevOps and GitHub's test reporters read it),
// one test suite per image and platform, one test case per check; under
// GitHub Actions also a Markdown summary appended to $GITHUB_STEP_SUMMARY
// and one ::error annotation per failed check, written to out.
func WriteCIReports(dist string, runs []Run, out io.Writer) error {
	data, err := junitXML(runs)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(JUnitPath(dist), data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", JUnitPath(dist), err)
	}
	if os.Getenv("GITHUB_ACTIONS") == "true" {
		for _, r := range runs {
			for _, f := range failures(r) {
				title := strings.TrimSpace("verify "+r.Image+" "+r.Platform) + ": " + f.name
				fmt.Fprintf(out, "::error title=%s::%s\n", escapeProperty(title), escapeData(f.message))
			}
		}
	}
	if path := os.Getenv("GITHUB_STEP_SUMMARY"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("write the job summary %s: %w", path, err)
		}
		defer f.Close()
		if _, err := io.WriteString(f, summary(runs)); err != nil {
			return fmt.Errorf("write the job summary %s: %w", path, err)
		}
	}
	return nil
}

type failure struct{ name, message string }

// failures are a run's failed checks, or the error that kept them from
// running.
func failures(r Run) []failure {
	if r.Report == nil {
		if r.Err != nil {
			return []failure{{"verify", r.Err.Error()}}
		}
		return nil
	}
	var fs []failure
	for _, ch := range r.Report.Checks {
		if !ch.Pass {
			fs = append(fs, failure{ch.Name, ch.Cause})
		}
	}
	return fs
}

// The JUnit XML format as its consumers read it (the Ant/Surefire
// schema): testsuites > testsuite > testcase, a failed case holding a
// failure whose message is its one-line cause.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func junitXML(runs []Run) ([]byte, error) {
	all := junitSuites{Name: "slimage verify"}
	for _, r := range runs {
		s := junitSuite{Name: "verify " + r.Image + " " + r.Platform}
		class := "slimage.verify." + strings.ReplaceAll(r.Platform, "/", "_")
		if r.Report == nil {
			msg := "verify did not run its checks"
			if r.Err != nil {
				msg = r.Err.Error()
			}
			s.Cases = append(s.Cases, junitCase{Name: "verify", Classname: class, Error: &junitProblem{Message: msg, Type: "error", Text: msg}})
			s.Errors++
		} else {
			for _, ch := range r.Report.Checks {
				c := junitCase{Name: ch.Name, Classname: class, SystemOut: "expected: " + ch.Expected + "\ngot: " + ch.Got}
				if !ch.Pass {
					c.Failure = &junitProblem{Message: ch.Cause, Type: "check",
						Text: "expected: " + ch.Expected + "\ngot: " + ch.Got + "\n" + ch.Cause}
					s.Failures++
				}
				s.Cases = append(s.Cases, c)
			}
		}
		s.Tests = len(s.Cases)
		all.Tests += s.Tests
		all.Failures += s.Failures
		all.Errors += s.Errors
		all.Suites = append(all.Suites, s)
	}
	data, err := xml.MarshalIndent(all, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(data, '\n')...), nil
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
			fmt.Fprintf(&b, "%s\n\n", mdCell(fmt.Sprint(r.Err)))
			continue
		}
		fmt.Fprintf(&b, "Image size: %s\n\n| check | expected | got | result |\n|---|---|---|---|\n", human.Size(r.Report.Size))
		for _, ch := range r.Report.Checks {
			result := "pass"
			if !ch.Pass {
				result = "**FAIL**: " + mdCell(ch.Cause)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdCell(ch.Name), mdCell(ch.Expected), mdCell(ch.Got), result)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// escapeData and escapeProperty follow GitHub's workflow command encoding.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
