package sign

import (
	"context"
	"os"

	"github.com/slimage/slimage/images/internal/step"
	"github.com/slimage/slimage/internal/atomicfile"
	"github.com/slimage/slimage/internal/contract"
)

// Steps names the steps of the signing commands, for step.Main.
const Steps = "sign or check <ref> <file>"

// Run is the signing commands' steps (slimage-sign, and slimage-sign-kms,
// which is the same with sigstore's KMS providers linked in):
//
//	sign                  sign the pushed index, its images, their SBOM and provenance
//	check <ref> <file>    check ref's signature and attestations (SLIMAGE_VERIFY_KEY or
//	                      _IDENTITY), and write the digest they are about to file
func Run(name string) step.Run {
	return func(ctx context.Context, doc *contract.Document, args []string) error {
		switch {
		case args[0] == "sign" && len(args) == 1 && doc.Resolved:
			return Sign(ctx, OptionsOf(doc.Config), os.Stdout)
		case args[0] == "check" && len(args) == 3:
			d, err := Check(ctx, args[1], TrustOf(doc.Config), os.Stdout)
			if err != nil {
				return err
			}
			return atomicfile.Write(args[2], []byte(d.String()+"\n"), 0o644)
		}
		return step.Unknown(name, args)
	}
}
