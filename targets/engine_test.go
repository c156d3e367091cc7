package targets_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slimage/slimage/internal/engine"
	"github.com/slimage/slimage/internal/testkit"
)

// repoMage runs this repository's magefile (the sample) with the mage
// binary, its output in a temp dist.
func repoMage(t *testing.T, mage string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(mage, args...)
	cmd.Dir = testkit.RepoRoot(t)
	cmd.Env = append(os.Environ(), append([]string{"SLIMAGE_DIST=" + t.TempDir(), "MAGEFILE_CACHE=" + t.TempDir()}, env...)...)
	return cmd
}

// compiledMagefile compiles this repository's magefile once, so a test can
// run it as a process of its own (and signal it alone).
func compiledMagefile(t *testing.T) string {
	t.Helper()
	testkit.ModCacheProxy(t) // the engine's modules as well as the sample's
	testkit.NeedDocker(t)
	magefile := filepath.Join(t.TempDir(), "magefile")
	testkit.Run(t, repoMage(t, testkit.Mage(t), nil, "-compile", magefile))
	return magefile
}

// A step that fails in the engine fails the target with the engine's own
// one-line cause, not "exit status 1".
func TestEngineErrorIsTheTargetsError(t *testing.T) {
	testkit.ModCacheProxy(t)
	testkit.NeedDocker(t)
	mage := testkit.Mage(t)
	// Only the engine dials the container engine (the front checks the
	// address's form): here nothing listens on the socket.
	closed := "unix://" + filepath.Join(t.TempDir(), "closed.sock")
	out, err := repoMage(t, mage, []string{"DOCKER_HOST=" + closed}, "image").CombinedOutput()
	if err == nil {
		t.Fatalf("mage image with no engine at DOCKER_HOST passed:\n%s", out)
	}
	var errLine string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Error: ") {
			errLine = l
		}
	}
	want := "Error: connect to the container engine at " + closed + " (DOCKER_HOST): dial unix"
	if !strings.HasPrefix(errLine, want) {
		t.Errorf("mage's error line is %q, want it to start with %q; output:\n%s", errLine, want, out)
	}
	if strings.Contains(string(out), "slimage-engine error:") {
		t.Errorf("the engine's error was printed twice:\n%s", out)
	}
}

// Ctrl-C in mage (here: an interrupt to the magefile binary alone, so the
// front must pass it on) stops the engine mid-verify, and the engine still
// removes its containers.
func TestInterruptReachesTheEngine(t *testing.T) {
	magefile := compiledMagefile(t)

	// The health path never answers 2xx, so verify waits (up to 30 s) with
	// its containers running.
	cmd := repoMage(t, magefile, []string{"SLIMAGE_VERIFY_HEALTH=/never", "SLIMAGE_IMAGE=slimage-test/hello:interrupt"}, "verify")
	cmd.Path = magefile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // no signal from the test's own group
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		exec.Command("docker", "rmi", "slimage-test/hello:interrupt").Run()
	})
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	deadline := time.Now().Add(3 * time.Minute)
	for len(verifyContainers(t)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no verify container appeared:\n%s", out.String())
		}
		select {
		case err := <-done:
			t.Fatalf("mage verify ended (%v) before its container started:\n%s", err, out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("mage verify passed after an interrupt:\n%s", out.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatalf("mage verify did not stop within 90 s of an interrupt:\n%s", out.String())
	}
	// The engine may outlive mage's own 5 s clean-up wait by a little.
	for deadline := time.Now().Add(30 * time.Second); len(verifyContainers(t)) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("containers left after the interrupt: %v\n%s", verifyContainers(t), out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func verifyContainers(t *testing.T) []string {
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label="+testkit.RunLabel+"="+testkit.RunID).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return strings.Fields(string(out))
}

// Two runs at once on one module (an editor's save hook and a terminal):
// the second waits for the first, saying so, both succeed, and the tagged
// image holds the binary of the sources the last run built.
func TestTwoRunsAtOnce(t *testing.T) {
	magefile := compiledMagefile(t)
	dir := testkit.CopySample(t, "hello")
	ref := "slimage-test/hello:two-runs"
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", ref).Run() })
	env := []string{"SLIMAGE_DIR=" + dir, "SLIMAGE_DIST=" + filepath.Join(dir, "dist"), "SLIMAGE_IMAGE=" + ref}

	first := repoMage(t, magefile, env, "image")
	first.Path = magefile
	var firstOut bytes.Buffer
	first.Stdout, first.Stderr = &firstOut, &firstOut
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	// Once the first holds the lock, the sources change and a second run starts.
	lock := filepath.Join(dir, "dist", ".slimage.lock")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if data, _ := os.ReadFile(lock); len(bytes.TrimSpace(data)) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first run never took the lock:\n%s", firstOut.String())
		}
	}
	testkit.WriteFiles(t, dir, map[string]string{"zz_second.go": "package main\n\nimport \"os\"\n\nfunc init() {\n\tif os.Getenv(\"NEVER_SET\") == \"x\" {\n\t\tprintln(\"second run's sources\")\n\t}\n}\n"})
	second := repoMage(t, magefile, env, "image")
	second.Path = magefile
	secondOut, err := second.CombinedOutput()
	if err != nil {
		t.Fatalf("the second run failed: %v\n%s", err, secondOut)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("the first run failed: %v\n%s", err, firstOut.String())
	}
	if !strings.Contains(string(secondOut), "waiting for another slimage run on") {
		t.Errorf("the second run did not say it waited:\n%s", secondOut)
	}
	cid := strings.TrimSpace(testkit.Run(t, exec.Command("docker", "create", ref)))
	defer exec.Command("docker", "rm", "-f", cid).Run()
	inImage := filepath.Join(t.TempDir(), "hello")
	testkit.Run(t, exec.Command("docker", "cp", cid+":/app/hello", inImage))
	data, err := os.ReadFile(inImage)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("second run's sources")) {
		t.Error("the tagged image does not hold the binary of the last run's sources")
	}
}

// vulncheck runs through the targets as a command of its own
// (slimage-vulncheck), built the first time it is used: the engine that
// image and verify run links nothing of golang.org/x/vuln.
func TestVulncheckRunsItsOwnCommand(t *testing.T) {
	testkit.ModCacheProxy(t)
	userCache := t.TempDir() // this test's own, so the command is built here
	t.Setenv("XDG_CACHE_HOME", userCache)
	db := "file://" + filepath.ToSlash(filepath.Join(testkit.RepoRoot(t), "images", "testdata", "vulndb"))
	mage := testkit.Mage(t)
	out, err := repoMage(t, mage, []string{"SLIMAGE_VULN_DB=" + db}, "vulncheck").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Error: vulncheck: 1 reachable vulnerability (GO-2099-0001 in github.com/google/uuid@v1.6.0)") {
		t.Fatalf("mage vulncheck of the sample did not fail on its reachable finding: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), ": built slimage-vulncheck in ") {
		t.Errorf("the first vulncheck did not say it built its command:\n%s", out)
	}
	if strings.Contains(string(out), "built slimage-engine") {
		t.Errorf("vulncheck built the image engine too:\n%s", out)
	}
	out = []byte(testkit.Run(t, repoMage(t, mage, []string{"SLIMAGE_VULN_DB=" + db, "SLIMAGE_VULN_ALLOW=GO-2099-0001"}, "vulncheck")))
	if strings.Contains(string(out), "built slimage-vulncheck") || !strings.Contains(string(out), "(allowed by SLIMAGE_VULN_ALLOW)") {
		t.Errorf("the second vulncheck built its command again, or did not report the allowed finding:\n%s", out)
	}
}

// The sample's file:// proxy (testdata/goproxy) serves the sample's go
// commands alone: the engine's build gets the user's GOPROXY. Here that is
// off, from a go env file (so GOPROXY is unset in the environment, as on a
// new machine), and every go command slimage runs is logged with the
// GOPROXY it got.
func TestSampleProxyIsTheSamplesAlone(t *testing.T) {
	testkit.ModCacheProxy(t) // the engine's modules are in the module cache
	t.Setenv("GOPROXY", "")
	goenv := filepath.Join(t.TempDir(), "go.env")
	testkit.WriteFiles(t, filepath.Dir(goenv), map[string]string{"go.env": "GOPROXY=off\n"})
	t.Setenv("GOENV", goenv)
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // the engine is built in this test
	logFile := filepath.Join(t.TempDir(), "go.log")
	gocmd := filepath.Join(t.TempDir(), "go")
	real, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	testkit.WriteFiles(t, filepath.Dir(gocmd), map[string]string{"go": "#!/bin/sh\necho \"$PWD|$GOPROXY|$*\" >> " + logFile + "\nexec " + real + " \"$@\"\n"})
	os.Chmod(gocmd, 0o755)
	out := testkit.Run(t, repoMage(t, testkit.Mage(t), []string{"MAGEFILE_GOCMD=" + gocmd}, "deps"))
	if !strings.Contains(out, "built slimage-engine") {
		t.Fatalf("deps did not build the engine in a fresh user cache:\n%s", out)
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	sample, engine := filepath.Join(testkit.RepoRoot(t), "testdata", "hello"), filepath.Join(testkit.RepoRoot(t), "images")
	saw := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		dir, rest, _ := strings.Cut(l, "|")
		proxy, args, _ := strings.Cut(rest, "|")
		switch dir {
		case sample:
			saw["sample"] = true
			if proxy != testkit.GoProxy(t) {
				t.Errorf("the sample's go %s got GOPROXY=%q, want the sample's proxy", args, proxy)
			}
		case engine:
			saw["engine"] = true
			if proxy != "" {
				t.Errorf("the engine's go %s got GOPROXY=%q, want the user's (unset)", args, proxy)
			}
		}
	}
	if !saw["sample"] || !saw["engine"] {
		t.Errorf("the log has no go command for the sample or for the engine:\n%s", data)
	}
}

// Two `go run mage.go image` at once in one clone, ten rounds: both pass
// every time. mage compiles the magefile on every run and writes its
// generated main file into magefiles/ to do so, so two compiles at once
// trip over each other's file; mage.go compiles one run at a time, and
// slimage's runs take turns on the output folder.
func TestZeroInstallRunsAtOnce(t *testing.T) {
	testkit.ModCacheProxy(t)
	testkit.NeedDocker(t)
	dist := t.TempDir()
	ref := "slimage-test/hello:at-once"
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", ref).Run() })
	start := func() (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command("go", "run", "mage.go", "image")
		cmd.Dir = testkit.RepoRoot(t)
		cmd.Env = append(os.Environ(), "SLIMAGE_DIST="+dist, "SLIMAGE_IMAGE="+ref)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}
	for round := 1; round <= 10; round++ {
		a, aOut := start()
		b, bOut := start()
		aErr, bErr := a.Wait(), b.Wait()
		if aErr != nil || bErr != nil {
			t.Fatalf("round %d: first run: %v\n%s\nsecond run: %v\n%s", round, aErr, aOut, bErr, bOut)
		}
	}
	if _, err := os.Stat(filepath.Join(testkit.RepoRoot(t), "magefiles", "mage_output_file.go")); err == nil {
		t.Error("mage's generated main file was left in magefiles/")
	}
}

// A run killed outright (SIGKILL: no chance to clean up) leaves nothing
// running: the engine, mid-verify, notices its parent is gone, removes
// its containers and exits; a go command mid-build is interrupted and
// deletes its work folder.
func TestKilledRunLeavesNothingRunning(t *testing.T) {
	magefile := compiledMagefile(t)
	kill := func(t *testing.T, cmd *exec.Cmd, out *bytes.Buffer, child string, match func(testkit.Proc) bool, ready func() bool) testkit.Proc {
		t.Helper()
		cmd.Path = magefile
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		var found testkit.Proc
		for deadline := time.Now().Add(3 * time.Minute); found.Pid == 0 || !ready(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s under the magefile, or never ready:\n%s", child, out)
			}
			for _, p := range testkit.Descendants(cmd.Process.Pid) {
				if p.Comm == child && match(p) {
					found = p
				}
			}
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		for deadline := time.Now().Add(engine.CleanupDelay); testkit.Alive(found.Pid); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s (pid %d) still runs %s after its parent was killed:\n%s", child, found.Pid, engine.CleanupDelay, out)
			}
		}
		return found
	}
	t.Run("engine", func(t *testing.T) {
		var out bytes.Buffer
		// The health path never answers 2xx: verify waits, its containers up.
		cmd := repoMage(t, magefile, []string{"SLIMAGE_VERIFY_HEALTH=/never", "SLIMAGE_IMAGE=slimage-test/hello:killed"}, "verify")
		t.Cleanup(func() { exec.Command("docker", "rmi", "slimage-test/hello:killed").Run() })
		kill(t, cmd, &out, "slimage-engine", func(testkit.Proc) bool { return true }, func() bool { return len(verifyContainers(t)) > 0 })
		if left := verifyContainers(t); len(left) > 0 {
			t.Errorf("containers left after the engine ended: %v\n%s", left, out.String())
		}
	})
	t.Run("go build", func(t *testing.T) {
		var out bytes.Buffer
		tmp := t.TempDir()
		env := []string{"TMPDIR=" + tmp, "GOTMPDIR=", "GOCACHE=" + t.TempDir()}
		cmd := repoMage(t, magefile, env, "build")
		killed := cmd // its pid names the temp folders of its go commands
		building := func(p testkit.Proc) bool { return len(p.Args) > 1 && p.Args[1] == "build" }
		kill(t, cmd, &out, "go", building, func() bool { return true })
		// The go command, killed with its slimage, could not delete its
		// temp folder: the next run does.
		again := repoMage(t, magefile, env, "build")
		again.Path = magefile
		testkit.Run(t, again)
		if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("left in the temp folder by the run killed (pid %d) after the next run: %v", killed.Process.Pid, names)
		}
	})
}

// A bad setting stops the target before any work: no module downloaded,
// nothing compiled, no image step begun; the one line names the setting.
// (docs/bad-input.md's table holds every class; these were checked only
// once the work was done, or not at all.)
func TestBadInputStopsBeforeAnyWork(t *testing.T) {
	magefile := compiledMagefile(t)
	fifo := filepath.Join(t.TempDir(), "corp-ca.pem")
	testkit.Mkfifo(t, fifo)
	for _, tc := range []struct {
		target string
		env    []string
		want   string
	}{
		{"image", []string{"SLIMAGE_PORTS=80800"}, "Error: check SLIMAGE_PORTS: 80800 is not a port number (1 to 65535)"},
		{"image", []string{"SLIMAGE_PORTS=53/sctp"}, "Error: check SLIMAGE_PORTS: \"53/sctp\": slimage exposes and verifies tcp and udp ports, not sctp"},
		{"image", []string{"SLIMAGE_USER=99999999999:1"}, "Error: check SLIMAGE_USER: uid 99999999999 is out of range"},
		{"image", []string{"SLIMAGE_EXTRA_CA=" + fifo}, "Error: check SLIMAGE_EXTRA_CA " + fifo + ": is a named pipe (FIFO), not a file"},
		{"image", []string{"SLIMAGE_FILES=/etc/passwd:/app/passwd"}, "Error: check SLIMAGE_FILES: /etc/passwd is outside module example.com/hello"},
		{"verify", []string{"DOCKER_HOST=tcp://"}, "Error: check DOCKER_HOST=tcp://: no host"},
		{"verify", []string{"DOCKER_CONTEXT=no-such-context"}, "Error: check Docker context \"no-such-context\" (DOCKER_CONTEXT): there is no such context"},
		{"vulncheck", []string{"SLIMAGE_VULN_DB=http://vuln.example.com"}, "Error: check SLIMAGE_VULN_DB: \"http://vuln.example.com\" is not an https:// or file:// URL"},
		{"vulncheck", []string{"SLIMAGE_VULN_ALLOW=CVE-2024-1234"}, "Error: check SLIMAGE_VULN_ALLOW: \"CVE-2024-1234\" is not a Go vulnerability ID"},
		{"resolve", nil, "Error: resolve: SLIMAGE_MANIFESTS names no manifests: list the deployment's YAML files or folders"},
		{"resolve", []string{"SLIMAGE_MANIFESTS=deploy/nope"}, "deploy/nope: no such file or folder: list files or folders of YAML in SLIMAGE_MANIFESTS"},
		{"verify", []string{"SLIMAGE_MANIFESTS=deploy/nope"}, "deploy/nope: no such file or folder: list files or folders of YAML in SLIMAGE_MANIFESTS"},
	} {
		t.Run(tc.target+" "+strings.Join(tc.env, " "), func(t *testing.T) {
			dist := t.TempDir()
			cmd := repoMage(t, magefile, append([]string{"SLIMAGE_DIST=" + dist}, tc.env...), tc.target)
			cmd.Path = magefile
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("mage %s passed:\n%s", tc.target, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out)
			}
			for _, work := range []string{"deps ", "build ", "engine ", "oci ", "image "} {
				if strings.Contains(string(out), "\n"+work) || strings.HasPrefix(string(out), work) {
					t.Errorf("work began (a %q line) before the refusal:\n%s", work, out)
				}
			}
			if entries, _ := os.ReadDir(dist); len(entries) > 0 {
				t.Errorf("the output folder was written: %v", entries)
			}
		})
	}
}
