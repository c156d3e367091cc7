package vulncheck_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	junit "github.com/joshdk/go-junit"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/gobuild"
	"github.com/slimage/slimage/images/vulncheck"
	"github.com/slimage/slimage/internal/testkit"
)

// The sample calls github.com/google/uuid's NewString, which the test
// database's GO-2099-0001 names: reachable. GO-2099-0002 is for a module the
// sample does not link: not reported.
func TestBinaryFindsWhatTheBinaryReaches(t *testing.T) {
	testkit.HermeticGo(t)
	dir := testkit.CopySample(t, "hello")
	c, err := config.Load(context.Background(), []func(*config.Config){func(c *config.Config) {
		c.Dir, c.Dist, c.Version = dir, filepath.Join(dir, "dist"), "v0.0.0-test"
	}}, nil, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	arts, err := gobuild.Build(context.Background(), c, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	db, _ := filepath.Abs(filepath.Join("..", "testdata", "vulndb"))
	got, err := vulncheck.Binary(context.Background(), arts[0].Path, "file://"+db)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "GO-2099-0001" || got[0].Module != "github.com/google/uuid" || got[0].Version != "v1.6.0" ||
		got[0].Fixed != "v1.6.1" || got[0].Symbol != "github.com/google/uuid.NewString" {
		t.Errorf("findings %+v", got)
	}
}

// Check fails on a reachable finding, naming it, and passes once its ID is
// allowed; either way it prints the finding and writes the report.
func TestCheckFailsUnlessAllowed(t *testing.T) {
	testkit.HermeticGo(t)
	dir := testkit.CopySample(t, "hello")
	db, _ := filepath.Abs(filepath.Join("..", "testdata", "vulndb"))
	c, err := config.Load(context.Background(), []func(*config.Config){func(c *config.Config) {
		c.Dir, c.Dist, c.Version, c.VulnDB = dir, filepath.Join(dir, "dist"), "v0.0.0-test", "file://"+db
	}}, nil, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gobuild.Build(context.Background(), c, io.Discard); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	summaryFile := filepath.Join(t.TempDir(), "summary.md")
	t.Setenv("GITHUB_ACTIONS", "true")
	t.Setenv("GITHUB_STEP_SUMMARY", summaryFile)
	err = vulncheck.Check(context.Background(), c, &out)
	testkit.ErrorMentions(t, err, "vulncheck: 1 reachable vulnerability (GO-2099-0001 in github.com/google/uuid@v1.6.0)", "SLIMAGE_VULN_ALLOW")
	if !strings.Contains(out.String(), "GO-2099-0001  github.com/google/uuid@v1.6.0  fixed in v1.6.1  github.com/google/uuid.NewString\n") {
		t.Errorf("no line for the finding:\n%s", out.String())
	}
	// What CI reads: an annotation, the job summary, a JUnit case that fails.
	if !strings.Contains(out.String(), "::error title=vulncheck "+c.Platforms[0].String()+"%3A GO-2099-0001::GO-2099-0001: github.com/google/uuid@v1.6.0 reaches") {
		t.Errorf("no annotation for the finding:\n%s", out.String())
	}
	if md, _ := os.ReadFile(summaryFile); !strings.Contains(string(md), "| GO-2099-0001 | github.com/google/uuid@v1.6.0 | v1.6.1 |") {
		t.Errorf("job summary:\n%s", md)
	}
	suites, err := junit.IngestFile(vulncheck.JUnitPath(c.Dist))
	if err != nil || len(suites) != 1 || suites[0].Totals.Failed != 1 || !strings.Contains(suites[0].Tests[0].Message, "upgrade to v1.6.1") {
		t.Errorf("JUnit: %v %+v", err, suites)
	}

	c.VulnAllow = []string{"GO-2099-0001"}
	out.Reset()
	if err := vulncheck.Check(context.Background(), c, &out); err != nil {
		t.Fatalf("an allowed finding failed the check: %v", err)
	}
	if !strings.Contains(out.String(), "(allowed by SLIMAGE_VULN_ALLOW)") {
		t.Errorf("the allowed finding was not reported:\n%s", out.String())
	}
	data, err := os.ReadFile(filepath.Join(c.Dist, "vuln", c.Platforms[0].DistDir()+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep vulncheck.Report
	if err := json.Unmarshal(data, &rep); err != nil || len(rep.Findings) != 1 || !rep.Findings[0].Allowed {
		t.Errorf("report: %v %+v", err, rep)
	}
}
