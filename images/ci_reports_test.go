package images_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	junit "github.com/joshdk/go-junit"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/images/verify"
	"github.com/slimage/slimage/internal/testkit"
)

// A verify's CI reports, for a passing image, a broken one and one that
// could not be verified at all: a JUnit file as JUnit consumers read it
// (go-junit ingests it by the Ant/Surefire rules), the GitHub job summary,
// and one ::error annotation per failed check.
func TestCIReports(t *testing.T) {
	cli := docker(t)
	_, good, err := verifySample(t, cli, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := sampleConfig(t, cli, testkit.CopySample(t, "hello"), func(c *config.Config) {
		c.VerifyTLS, c.VerifyTimeout, c.VerifyHealth = "off", 3*time.Second, "/healthz"
	})
	brokenImage(t, cli, c, "broken/no-ca-bundle.Dockerfile", "")
	bad, badErr := verify.Verify(context.Background(), c, c.Image, io.Discard, io.Discard)
	if badErr == nil {
		t.Fatal("the image without a CA bundle passed verify")
	}
	runs := []verify.Run{
		{Image: good.Image, Platform: good.Platform, Report: good},
		{Image: c.Image, Platform: bad.Platform, Report: bad, Err: badErr},
		{Image: "slimage-test/absent:nope", Err: errors.New("verify slimage-test/absent:nope: no such image in the local Docker")},
	}
	dist := t.TempDir()
	summaryFile := filepath.Join(t.TempDir(), "summary.md")
	t.Setenv("GITHUB_ACTIONS", "true")
	t.Setenv("GITHUB_STEP_SUMMARY", summaryFile)
	var out bytes.Buffer
	if err := verify.WriteCIReports(dist, runs, &out); err != nil {
		t.Fatal(err)
	}

	suites, err := junit.IngestFile(verify.JUnitPath(dist))
	if err != nil {
		t.Fatalf("a JUnit consumer cannot read %s: %v", verify.JUnitPath(dist), err)
	}
	if len(suites) != 3 {
		t.Fatalf("%d test suites, want one per image and platform", len(suites))
	}
	if s := suites[0]; s.Totals.Tests != len(good.Checks) || s.Totals.Passed != len(good.Checks) {
		t.Errorf("passing image: %+v", s.Totals)
	}
	var failedCauses []string
	for _, tc := range suites[1].Tests {
		if tc.Status == junit.StatusFailed {
			failedCauses = append(failedCauses, tc.Name+": "+tc.Message)
		}
	}
	if s := suites[1]; s.Totals.Failed == 0 || s.Totals.Failed != len(failedCauses) || !strings.Contains(strings.Join(failedCauses, "\n"), "trust store: ") ||
		!strings.Contains(strings.Join(failedCauses, "\n"), "no CA bundle") {
		t.Errorf("broken image: %+v, failures %q", s.Totals, failedCauses)
	}
	if s := suites[2]; s.Totals.Error != 1 || !strings.Contains(s.Tests[0].Error.Error(), "no such image") {
		t.Errorf("image that could not be verified: %+v", s.Totals)
	}

	var annotations []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(l, "::error title=") {
			t.Errorf("not an annotation: %q", l)
		}
		annotations = append(annotations, l)
	}
	if len(annotations) != len(failedCauses)+1 || !strings.Contains(out.String(), "::error title=verify "+strings.ReplaceAll(c.Image, ":", "%3A")+" "+bad.Platform+"%3A trust store::trust store: ") {
		t.Errorf("annotations:\n%s", out.String())
	}

	md, _ := os.ReadFile(summaryFile)
	for _, want := range []string{"### slimage verify: `" + good.Image + "` " + good.Platform + " passed", "| check | expected | got | result |",
		"### slimage verify: `" + c.Image + "` " + bad.Platform + " **failed**", "**FAIL**: ", "slimage-test/absent:nope", "Image size: "} {
		if !strings.Contains(string(md), want) {
			t.Errorf("the job summary lacks %q:\n%s", want, md)
		}
	}
}
