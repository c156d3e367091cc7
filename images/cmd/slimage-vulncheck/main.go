// Command slimage-vulncheck runs the vulncheck step for slimage's mage
// targets: govulncheck (golang.org/x/vuln) on each built binary. It is a
// command of its own, built the first time vulncheck runs, because
// golang.org/x/vuln and the parts of golang.org/x/tools it needs are
// nothing the image steps use.
//
//	slimage-vulncheck vulncheck   check the built binaries
//	slimage-vulncheck version     print the command's module versions
package main

import (
	"context"
	"os"

	"github.com/slimage/slimage/images/internal/step"
	"github.com/slimage/slimage/images/vulncheck"
	"github.com/slimage/slimage/internal/contract"
)

const name = "slimage-vulncheck"

func main() { step.Main(name, "vulncheck", run) }

func run(ctx context.Context, doc *contract.Document, args []string) error {
	if args[0] == "vulncheck" && len(args) == 1 && doc.Resolved {
		return vulncheck.Check(ctx, doc.Config, os.Stdout)
	}
	return step.Unknown(name, args)
}
