// Package sbom describes what was linked into a binary, read from the
// binary's own build information (debug/buildinfo), as a CycloneDX JSON
// document: it lists what the linker took, not what go.mod asks for.
//
// CycloneDX rather than SPDX: its Go library is maintained by the format's
// own project, a Go module maps onto one component (purl, version, the
// go.sum hash) without the package/file split SPDX needs, and the build
// settings fit its properties.
package sbom

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"path"
	"runtime/debug"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/package-url/packageurl-go"

	"github.com/slimage/slimage/config"
)

// MediaType is the SBOM's media type, as an OCI artifact type.
const MediaType = "application/vnd.cyclonedx+json"

// SpecVersion is the CycloneDX version written.
const SpecVersion = cdx.SpecVersion1_6

// New describes a Go binary, built for p, from its build information
// (debug/buildinfo.ReadFile). created is the document's time (the image's:
// the commit time, never "now", so that the same commit gives the same
// bytes); tool names slimage and its version.
func New(bi *debug.BuildInfo, p config.Platform, created time.Time, tool string) *cdx.BOM {
	main := component(cdx.ComponentTypeApplication, bi.Main)
	props := []cdx.Property{{Name: "go:version", Value: bi.GoVersion}, {Name: "go:platform", Value: p.String()}}
	for _, s := range bi.Settings {
		props = append(props, cdx.Property{Name: "go:build:" + s.Key, Value: s.Value})
	}
	main.Properties = &props
	name, version, _ := strings.Cut(tool, " ")
	bom := cdx.NewBOM()
	bom.Metadata = &cdx.Metadata{
		Timestamp: created.UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication,
			Name: name, Version: version}}},
		Component: &main,
	}
	var libs []cdx.Component
	var refs []string
	for _, d := range bi.Deps {
		c := component(cdx.ComponentTypeLibrary, *d)
		libs = append(libs, c)
		refs = append(refs, c.BOMRef)
	}
	bom.Components = &libs
	bom.Dependencies = &[]cdx.Dependency{{Ref: main.BOMRef, Dependencies: &refs}}
	return bom
}

// component is one module as the binary recorded it: a replaced module is
// the replacement that was linked, the module it stands for a property.
func component(t cdx.ComponentType, m debug.Module) cdx.Component {
	linked := m
	if m.Replace != nil {
		linked = *m.Replace
	}
	// A Go purl's namespace is the module path but its last element.
	namespace, name := path.Split(linked.Path)
	version := linked.Version
	if version == "(devel)" { // the main module built from a checkout: no version to name
		version = ""
	}
	purl := packageurl.NewPackageURL(packageurl.TypeGolang, strings.TrimSuffix(namespace, "/"), name, version, nil, "").ToString()
	c := cdx.Component{Type: t, BOMRef: purl, Name: linked.Path, Version: linked.Version, PackageURL: purl}
	if h, ok := goSumHash(linked.Sum); ok {
		c.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: h}}
	}
	if m.Replace != nil {
		c.Properties = &[]cdx.Property{{Name: "go:replaces", Value: m.Path + "@" + m.Version}}
	}
	return c
}

// goSumHash turns go.sum's h1: hash (base64 SHA-256 of the module's file
// list and hashes) into the hex CycloneDX expects.
func goSumHash(sum string) (string, bool) {
	b64, ok := strings.CutPrefix(sum, "h1:")
	if !ok {
		return "", false
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", false
	}
	return hex.EncodeToString(raw), true
}

// Encode writes bom as indented JSON in SpecVersion.
func Encode(bom *cdx.BOM) ([]byte, error) {
	var b bytes.Buffer
	if err := cdx.NewBOMEncoder(&b, cdx.BOMFileFormatJSON).SetPretty(true).EncodeVersion(bom, SpecVersion); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
