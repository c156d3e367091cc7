// Package trust assembles an image's CA bundle: SLIMAGE_CA_BUNDLE, or the
// host's found the way Go finds it, with each SLIMAGE_EXTRA_CA file
// appended. These are host files by design (a corporate CA lives outside
// any module), unlike run-time files, which must come from the module.
//
// The same function checks the files before any work and reads them when
// the image is staged, so both say the same of a bad file.
package trust

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/slimage/slimage/internal/human"
	"github.com/slimage/slimage/internal/userfile"
)

// HostBundles are the files Go's crypto/x509 reads on Linux, in its order:
// where the host's bundle is found. (The probe, which must build alone,
// keeps the same list to look in the image; a test keeps them equal.)
var HostBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
}

// Settings are the trust settings.
type Settings struct {
	Bundle string   // SLIMAGE_CA_BUNDLE; "" finds the host's
	Extra  []string // SLIMAGE_EXTRA_CA
	// Strict (SLIMAGE_CA_STRICT) makes a certificate that is expired, not
	// yet valid or not a CA an error; otherwise it is a note.
	Strict bool
}

// Bundle is an assembled CA bundle.
type Bundle struct {
	PEM   []byte
	From  string   // the bundle's file
	Certs int      // certificates in it, the extra ones included
	Notes []string // one line per file that holds certificates worth a word (see Strict)
}

// Read assembles the bundle s describes, at time now (for validity).
func Read(ctx context.Context, s Settings, now time.Time) (*Bundle, error) {
	var candidates []string
	setting := "SLIMAGE_CA_BUNDLE"
	switch {
	case s.Bundle != "":
		candidates = []string{s.Bundle}
	case os.Getenv("SSL_CERT_FILE") != "":
		candidates, setting = []string{os.Getenv("SSL_CERT_FILE")}, "SSL_CERT_FILE"
	default:
		candidates, setting = HostBundles, ""
	}
	b := &Bundle{}
	for _, p := range candidates {
		data, err := userfile.Read(ctx, p)
		if err == nil {
			b.PEM, b.From = data, p
			break
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if setting != "" {
			return nil, fmt.Errorf("check %s %s: %v: point it at a PEM CA bundle", setting, p, err)
		}
	}
	if b.PEM == nil {
		return nil, fmt.Errorf("check the CA bundle: none found (looked at %s): install your distribution's ca-certificates, or set SLIMAGE_CA_BUNDLE to a PEM bundle", strings.Join(candidates, ", "))
	}
	if s.Bundle != "" {
		// A bundle the user chose is parsed like an extra CA; the host's
		// is the distribution's business, and only counted.
		n, note, err := inspect(b.PEM, now)
		if err != nil {
			return nil, fmt.Errorf("check SLIMAGE_CA_BUNDLE %s: %v: give a PEM bundle of CA certificates", s.Bundle, err)
		}
		if err := b.note("SLIMAGE_CA_BUNDLE", s.Bundle, note, s.Strict); err != nil {
			return nil, err
		}
		b.Certs = n
	} else if b.Certs = countPEM(b.PEM); b.Certs == 0 {
		return nil, fmt.Errorf("check the CA bundle: %s holds no PEM certificate: set SLIMAGE_CA_BUNDLE to a PEM bundle", b.From)
	}
	more, err := readExtra(ctx, s, now, b)
	if err != nil {
		return nil, err
	}
	b.PEM = appendPEM(b.PEM, more)
	return b, nil
}

// ReadExtra reads the SLIMAGE_EXTRA_CA files alone, one after another (the
// multistage image appends them to its builder image's bundle).
func ReadExtra(ctx context.Context, s Settings, now time.Time) (*Bundle, error) {
	b := &Bundle{}
	more, err := readExtra(ctx, s, now, b)
	if err != nil {
		return nil, err
	}
	b.PEM = more
	return b, nil
}

func readExtra(ctx context.Context, s Settings, now time.Time, b *Bundle) ([]byte, error) {
	var certs []byte
	for _, p := range s.Extra {
		data, err := userfile.Read(ctx, p)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("check SLIMAGE_EXTRA_CA %s: %v: give readable PEM files, ':'-separated", p, err)
		}
		n, note, err := inspect(data, now)
		if err != nil {
			return nil, fmt.Errorf("check SLIMAGE_EXTRA_CA %s: %v: give PEM-encoded CA certificates (-----BEGIN CERTIFICATE-----)", p, err)
		}
		if err := b.note("SLIMAGE_EXTRA_CA", p, note, s.Strict); err != nil {
			return nil, err
		}
		b.Certs += n
		certs = appendPEM(certs, data)
	}
	return certs, nil
}

// note records what inspect found worth a word about a file, or fails
// with it when strict.
func (b *Bundle) note(setting, path, note string, strict bool) error {
	if note == "" {
		return nil
	}
	if strict {
		return fmt.Errorf("check %s %s: %s: renew or drop them, or set SLIMAGE_CA_STRICT=false to only be told", setting, path, note)
	}
	b.Notes = append(b.Notes, fmt.Sprintf("%s %s: %s (copied in all the same; SLIMAGE_CA_STRICT=true refuses it)", setting, path, note))
	return nil
}

// inspect accepts only PEM CERTIFICATE blocks that parse as X.509, and
// says which of them will not anchor a chain today: expired, not yet
// valid, or not a CA (a server's own certificate, say).
func inspect(data []byte, now time.Time) (n int, note string, err error) {
	var expired, early, notCA []string
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return 0, "", fmt.Errorf("holds a %s block, not a certificate", b.Type)
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return 0, "", fmt.Errorf("certificate %d does not parse: %v", n+1, err)
		}
		n++
		name := fmt.Sprintf("%q", subject(cert))
		switch {
		case now.After(cert.NotAfter):
			expired = append(expired, name+" expired "+cert.NotAfter.UTC().Format(time.DateOnly))
		case now.Before(cert.NotBefore):
			early = append(early, name+" valid from "+cert.NotBefore.UTC().Format(time.DateOnly))
		}
		if !cert.IsCA {
			notCA = append(notCA, name)
		}
	}
	if n == 0 {
		return 0, "", errors.New("no PEM certificate in it")
	}
	var notes []string
	for _, group := range []struct {
		what  string
		names []string
	}{{"expired", expired}, {"not yet valid", early}, {"not a CA", notCA}} {
		if len(group.names) > 0 {
			notes = append(notes, fmt.Sprintf("%d %s (%s)", len(group.names), group.what, strings.Join(group.names, ", ")))
		}
	}
	if len(notes) == 0 {
		return n, "", nil
	}
	return n, fmt.Sprintf("%d certificate%s, of which %s", n, human.Plural(n), strings.Join(notes, "; ")), nil
}

func subject(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return c.Subject.String()
}

func countPEM(data []byte) int {
	n := 0
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return n
		}
		if b.Type == "CERTIFICATE" {
			n++
		}
	}
}

// appendPEM appends PEM text to a bundle, on a line of its own.
func appendPEM(bundle, more []byte) []byte {
	if len(more) > 0 && len(bundle) > 0 && bundle[len(bundle)-1] != '\n' {
		bundle = append(bundle, '\n')
	}
	return append(bundle, more...)
}
