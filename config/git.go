package config

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

// What git says of the commit being built.

// readGit reads the commit and its time, the origin and, when describe is
// set, `git describe --tags --always --dirty` for the version ("dev" where
// there is none), all at once; outside git (or without git) the facts are
// empty.
func readGit(ctx context.Context, dir string, describe bool) (g Git, version string) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if f := strings.Fields(gitOutput(ctx, dir, "log", "-1", "--format=%H %ct")); len(f) == 2 {
			g.Revision = f[0]
			g.CommitTime, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}()
	go func() {
		defer wg.Done()
		g.Origin = gitOutput(ctx, dir, "config", "--get", "remote.origin.url")
	}()
	if describe {
		if version = gitOutput(ctx, dir, "describe", "--tags", "--always", "--dirty"); version == "" {
			version = "dev"
		}
	}
	wg.Wait()
	return g, version
}

func gitOutput(ctx context.Context, dir string, args ...string) string {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
