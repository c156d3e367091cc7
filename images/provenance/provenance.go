// Package provenance records how an image was built: an in-toto statement
// (v1) with a SLSA provenance (v1) predicate, made with the in-toto
// attestation framework's own Go types.
package provenance

import (
	"bytes"
	"encoding/json"
	"fmt"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// MediaType is the statement's media type, as an OCI artifact type.
const MediaType = "application/vnd.in-toto+json"

// BuildType names what slimage's build does, for a verifier to interpret
// the parameters.
const BuildType = "https://github.com/slimage/slimage/buildtypes/go-scratch-image/v1"

// Artifact is something named with its SHA-256 (hex).
type Artifact struct {
	Name, URI, SHA256 string
}

// Build is what the provenance says of one platform's image.
type Build struct {
	Subjects []Artifact // the image, the binary
	Builder  string     // slimage's version
	// The source: repository, commit, and whether the checkout had changes
	// not committed (nil: not known, outside git).
	Repository, Commit string
	Dirty              *bool
	Module, Main       string
	Platform           string
	Flags, Env         []string // the go command's flags and environment
	GoVersion          string
	Materials          []Artifact // go.sum, the CA bundle, the zones, the image's other files
}

// Statement renders b as an in-toto statement, as indented JSON whose
// bytes depend on b alone (protojson's own output varies its whitespace
// on purpose, so it is re-indented).
func Statement(b Build) ([]byte, error) {
	source := map[string]any{"repository": b.Repository, "commit": b.Commit}
	if b.Dirty != nil {
		source["dirty"] = *b.Dirty
	}
	external, err := structpb.NewStruct(map[string]any{
		"source": source, "module": b.Module, "main": b.Main, "platform": b.Platform,
		"flags": list(b.Flags), "env": list(b.Env)})
	if err != nil {
		return nil, err
	}
	internal, err := structpb.NewStruct(map[string]any{"goVersion": b.GoVersion})
	if err != nil {
		return nil, err
	}
	var deps []*intoto.ResourceDescriptor
	if b.Commit != "" {
		src := &intoto.ResourceDescriptor{Name: "source", Digest: map[string]string{"gitCommit": b.Commit}}
		if b.Repository != "" {
			src.Uri = "git+" + b.Repository
		}
		deps = append(deps, src)
	}
	for _, m := range b.Materials {
		deps = append(deps, descriptor(m))
	}
	pred := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{BuildType: BuildType, ExternalParameters: external,
			InternalParameters: internal, ResolvedDependencies: deps},
		RunDetails: &slsa.RunDetails{Builder: &slsa.Builder{Id: "https://github.com/slimage/slimage@" + b.Builder,
			Version: map[string]string{"slimage": b.Builder}}},
	}
	if err := pred.Validate(); err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	predJSON, err := protojson.Marshal(pred)
	if err != nil {
		return nil, err
	}
	predStruct := &structpb.Struct{}
	if err := protojson.Unmarshal(predJSON, predStruct); err != nil {
		return nil, err
	}
	st := &intoto.Statement{Type: intoto.StatementTypeUri, PredicateType: "https://slsa.dev/provenance/v1", Predicate: predStruct}
	for _, s := range b.Subjects {
		st.Subject = append(st.Subject, descriptor(s))
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	raw, err := protojson.Marshal(st)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func descriptor(a Artifact) *intoto.ResourceDescriptor {
	return &intoto.ResourceDescriptor{Name: a.Name, Uri: a.URI, Digest: map[string]string{"sha256": a.SHA256}}
}

// list makes a list structpb can hold.
func list(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
