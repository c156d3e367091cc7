// Package cireport writes what CI systems read of a step's results: a
// JUnit XML file (GitLab, Jenkins, Azure DevOps and GitHub's test
// reporters read it), and under GitHub Actions the job summary and
// ::error annotations.
package cireport

import (
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/slimage/slimage/internal/atomicfile"
)

// Case is one test case: a check of a verify, a finding of a vulncheck.
type Case struct {
	Name, Class string
	Output      string // what was expected and seen
	Failure     string // the one-line cause and fix; "" when it passed
	Detail      string // the failure's body
	Error       bool   // it could not run at all (Failure says why)
}

// Suite is one image and platform's cases.
type Suite struct {
	Name  string
	Cases []Case
}

// The JUnit XML format as its consumers read it (the Ant/Surefire
// schema): testsuites > testsuite > testcase, a failed case holding a
// failure (an error when it could not run) whose message is its cause.
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

// WriteJUnit writes suites to path as one JUnit XML document named name.
func WriteJUnit(path, name string, suites []Suite) error {
	all := junitSuites{Name: name}
	for _, s := range suites {
		js := junitSuite{Name: s.Name, Tests: len(s.Cases)}
		for _, c := range s.Cases {
			jc := junitCase{Name: c.Name, Classname: c.Class, SystemOut: c.Output}
			switch {
			case c.Error:
				jc.Error = &junitProblem{Message: c.Failure, Type: "error", Text: c.Failure}
				js.Errors++
			case c.Failure != "":
				jc.Failure = &junitProblem{Message: c.Failure, Type: "failure", Text: c.Detail}
				js.Failures++
			}
			js.Cases = append(js.Cases, jc)
		}
		all.Tests += js.Tests
		all.Failures += js.Failures
		all.Errors += js.Errors
		all.Suites = append(all.Suites, js)
	}
	data, err := xml.MarshalIndent(all, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append([]byte(xml.Header), append(data, '\n')...), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Annotate prints a GitHub Actions ::error annotation to out, under GitHub
// Actions only.
func Annotate(out io.Writer, title, message string) {
	if os.Getenv("GITHUB_ACTIONS") != "true" {
		return
	}
	fmt.Fprintf(out, "::error title=%s::%s\n", escapeProperty(title), escapeData(message))
}

// AppendSummary appends Markdown to the job summary ($GITHUB_STEP_SUMMARY),
// when there is one.
func AppendSummary(markdown string) error {
	path := os.Getenv("GITHUB_STEP_SUMMARY")
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write the job summary %s: %w", path, err)
	}
	defer f.Close()
	if _, err := io.WriteString(f, markdown); err != nil {
		return fmt.Errorf("write the job summary %s: %w", path, err)
	}
	return nil
}

// Class is the test cases' class name for a step on a platform
// ("slimage.verify.linux_arm64"): CI systems group cases by it.
func Class(step, platform string) string {
	return "slimage." + step + "." + strings.ReplaceAll(platform, "/", "_")
}

// Cell makes s fit in a Markdown table cell.
func Cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// escapeData and escapeProperty follow GitHub's workflow command encoding.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
