// Command slimage-sign signs what slimage's image step or merge pushed,
// in cosign's formats, for slimage's mage targets (see package sign). It
// is a command of its own, built the first time a run signs
// (SLIMAGE_SIGN_KEY), because cosign's and sigstore's libraries are
// several hundred packages the other steps never use.
//
//	slimage-sign sign                  sign the pushed index, its images, their SBOM and provenance
//	slimage-sign check <ref> <file>    check ref's signature and attestations (SLIMAGE_VERIFY_KEY or _IDENTITY),
//	                                   and write the digest they are about to file
//	slimage-sign version               print the command's module versions
package main

import (
	"context"
	"os"

	"github.com/slimage/slimage/images/internal/step"
	"github.com/slimage/slimage/images/sign"
	"github.com/slimage/slimage/internal/atomicfile"
	"github.com/slimage/slimage/internal/contract"
)

const name = "slimage-sign"

func main() { step.Main(name, "sign or check <ref> <file>", run) }

func run(ctx context.Context, doc *contract.Document, args []string) error {
	switch {
	case args[0] == "sign" && len(args) == 1 && doc.Resolved:
		return sign.Sign(ctx, sign.OptionsOf(doc.Config), os.Stdout)
	case args[0] == "check" && len(args) == 3:
		d, err := sign.Check(ctx, args[1], sign.TrustOf(doc.Config), os.Stdout)
		if err != nil {
			return err
		}
		return atomicfile.Write(args[2], []byte(d.String()+"\n"), 0o644)
	}
	return step.Unknown(name, args)
}
