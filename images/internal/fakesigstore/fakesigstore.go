// Package fakesigstore is a Fulcio and a Rekor on loopback, for tests of
// keyless signing, which cannot reach Sigstore from here. The Rekor is
// sigstore-go's in-process test log (pkg/testing/ca's VirtualSigstore:
// its key signs each entry's timestamp and inclusion proof); the Fulcio
// issues certificates from a test CA made with the same package's
// helpers, for the identity and issuer an unverified token names. Both
// speak the HTTP APIs the real services do, so the code under test uses
// sigstore-go's real clients. TrustedRoot writes the trusted_root.json a
// verifier needs to accept what they issue.
package fakesigstore

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-openapi/runtime"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	_ "github.com/sigstore/rekor/pkg/types/dsse/v0.0.1"         // the entries sigstore-go logs DSSE envelopes as
	_ "github.com/sigstore/rekor/pkg/types/hashedrekord/v0.0.1" // and message signatures
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Sigstore is a running Fulcio and Rekor.
type Sigstore struct {
	FulcioURL, RekorURL string

	vs           *ca.VirtualSigstore
	root         *x509.Certificate
	intermediate *x509.Certificate
	key          *ecdsa.PrivateKey // the intermediate's
	start        time.Time

	mu      sync.Mutex
	entries int
}

// Start starts both services; Close stops them.
func Start() (*Sigstore, func(), error) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		return nil, nil, err
	}
	rootCert, rootKey, err := ca.GenerateRootCa()
	if err != nil {
		return nil, nil, err
	}
	inter, interKey, err := ca.GenerateFulcioIntermediate(rootCert, rootKey)
	if err != nil {
		return nil, nil, err
	}
	s := &Sigstore{vs: vs, root: rootCert, intermediate: inter, key: interKey, start: time.Now()}
	fulcio := httptest.NewServer(http.HandlerFunc(s.signingCert))
	rekor := httptest.NewServer(http.HandlerFunc(s.logEntry))
	s.FulcioURL, s.RekorURL = fulcio.URL, rekor.URL
	return s, func() { fulcio.Close(); rekor.Close() }, nil
}

// Token is an OIDC token for subject (an e-mail address) from issuer, as
// a CI job would hold: this Fulcio does not check its signature.
func Token(subject, issuer string) string {
	enc := base64.RawURLEncoding.EncodeToString
	claims, _ := json.Marshal(map[string]any{"iss": issuer, "sub": subject, "email": subject, "email_verified": true,
		"aud": "sigstore", "exp": time.Now().Add(time.Hour).Unix()})
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc(claims) + "." + enc([]byte("unchecked"))
}

// signingCert answers Fulcio's POST /api/v2/signingCert (sigstore-go's
// client) and /api/v1/signingCert (cosign's classic one): a certificate
// for the request's public key, naming the token's subject and issuer.
func (s *Sigstore) signingCert(w http.ResponseWriter, r *http.Request) {
	v1 := r.URL.Path == "/api/v1/signingCert"
	if r.Method != http.MethodPost || (r.URL.Path != "/api/v2/signingCert" && !v1) {
		http.NotFound(w, r)
		return
	}
	var claims struct{ Iss, Sub, Email string }
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if parts := strings.Split(token, "."); len(parts) == 3 {
		if data, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
			json.Unmarshal(data, &claims)
		}
	}
	if claims.Iss == "" || claims.Email == "" {
		http.Error(w, "the token names no issuer or e-mail", http.StatusUnauthorized)
		return
	}
	var req struct {
		PublicKeyRequest struct {
			PublicKey struct{ Content string } `json:"publicKey"`
		} `json:"publicKeyRequest"`
		PublicKey struct{ Content []byte } `json:"publicKey"` // v1: base64 in JSON
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var pub crypto.PublicKey
	var err error
	if v1 { // PEM or DER
		if pub, err = cryptoutils.UnmarshalPEMToPublicKey(req.PublicKey.Content); err != nil {
			pub, err = x509.ParsePKIXPublicKey(req.PublicKey.Content)
		}
	} else {
		pub, err = cryptoutils.UnmarshalPEMToPublicKey([]byte(req.PublicKeyRequest.PublicKey.Content))
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	leaf, err := ca.GenerateLeafCert(claims.Email, claims.Iss, time.Now().Add(-time.Minute), publicOnly{pub}, s.intermediate, s.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var chain []string
	for _, c := range []*x509.Certificate{leaf, s.intermediate, s.root} {
		chain = append(chain, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	if v1 {
		w.Header().Set("Content-Type", "application/pem-certificate-chain")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, strings.Join(chain, ""))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"signedCertificateEmbeddedSct": map[string]any{"chain": map[string]any{"certificates": chain}}})
}

// publicOnly is a public key where the CA helpers take a signer: they
// only read its public half.
type publicOnly struct{ pub crypto.PublicKey }

func (p publicOnly) Public() crypto.PublicKey { return p.pub }
func (publicOnly) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, fmt.Errorf("a public key cannot sign")
}

// logEntry answers Rekor's POST /api/v1/log/entries: the entry in its
// canonical form, with the log's signed timestamp and inclusion proof.
func (s *Sigstore) logEntry(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/log/entries" {
		http.NotFound(w, r)
		return
	}
	pe, err := models.UnmarshalProposedEntry(r.Body, runtime.JSONConsumer())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	entry, err := types.CreateVersionedEntry(pe)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	body, err := types.CanonicalizeEntry(r.Context(), entry)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	logID, err := s.vs.RekorLogID()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	s.entries++
	s.mu.Unlock()
	now, index := time.Now().Unix(), int64(0)
	set, err := s.vs.RekorSignPayload(tlog.RekorPayload{Body: base64.StdEncoding.EncodeToString(body), IntegratedTime: now, LogIndex: index, LogID: logID})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	proof, err := s.vs.GetInclusionProof(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	leaf := sha256.Sum256(append([]byte{0}, body...))
	uuid := hex.EncodeToString(leaf[:])
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", uuid)
	w.Header().Set("Location", "/api/v1/log/entries/"+uuid)
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(models.LogEntry{uuid: models.LogEntryAnon{
		Body: base64.StdEncoding.EncodeToString(body), IntegratedTime: &now, LogID: &logID, LogIndex: &index,
		Verification: &models.LogEntryAnonVerification{InclusionProof: proof, SignedEntryTimestamp: set},
	}})
}

// Entries is how many entries the log has taken.
func (s *Sigstore) Entries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entries
}

// TrustedRoot writes the trusted_root.json that trusts this Fulcio's CA
// and this Rekor's key (and no certificate transparency log: its
// certificates carry no SCTs) to path.
func (s *Sigstore) TrustedRoot(path string) error {
	logs := map[string]*root.TransparencyLog{}
	for id, l := range s.vs.RekorLogs() {
		raw, err := hex.DecodeString(id)
		if err != nil {
			return err
		}
		c := *l
		c.ID, c.BaseURL, c.ValidityPeriodStart = raw, s.RekorURL, s.start.Add(-time.Hour)
		logs[id] = &c
	}
	fulcio := &root.FulcioCertificateAuthority{Root: s.root, Intermediates: []*x509.Certificate{s.intermediate},
		ValidityPeriodStart: s.start.Add(-time.Hour), URI: s.FulcioURL}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{fulcio},
		map[string]*root.TransparencyLog{}, nil, logs)
	if err != nil {
		return err
	}
	data, err := tr.MarshalJSON()
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	json.Indent(&pretty, data, "", "  ")
	return os.WriteFile(path, pretty.Bytes(), 0o644)
}
