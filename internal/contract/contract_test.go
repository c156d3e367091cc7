package contract_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slimage/slimage/config"
	"github.com/slimage/slimage/internal/contract"
	"github.com/slimage/slimage/internal/testkit"
)

// fillAll sets every exported field of v (recursively) to a value that is
// not its zero, so a field the document forgets cannot pass unnoticed.
func fillAll(t *testing.T, v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(path + "-value")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		if v.Type() == reflect.TypeOf(time.Duration(0)) {
			v.SetInt(int64(42 * time.Second))
		} else {
			v.SetInt(7)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fillAll(t, s.Index(i), path)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillAll(t, k, path+"-key")
		fillAll(t, e, path)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillAll(t, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Type().Field(i); f.IsExported() {
				fillAll(t, v.Field(i), path+"."+f.Name)
			}
		}
	default:
		t.Fatalf("%s: a %s field: teach fillAll (and check the document carries it)", path, v.Kind())
	}
}

// The engine gets the configuration as the front resolved it: every field
// survives the trip.
func TestDocumentRoundTripsEveryField(t *testing.T) {
	c := &config.Config{}
	fillAll(t, reflect.ValueOf(c).Elem(), "Config")
	data, err := contract.MarshalDocument(c, "v1.2.3", true)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := contract.UnmarshalDocument(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(doc.Config, c) {
		t.Errorf("round trip changed the configuration:\n got %+v\nwant %+v", doc.Config, c)
	}
	if doc.Slimage != "v1.2.3" || !doc.Verbose || doc.Format != contract.DocumentFormat {
		t.Errorf("document header: %+v", doc)
	}
}

func TestDocumentOfAnotherFormatIsRefused(t *testing.T) {
	_, err := contract.UnmarshalDocument([]byte(`{"format":"slimage.config/v0","config":{}}`))
	testkit.ErrorMentions(t, err, "slimage.config/v0", contract.DocumentFormat, "different slimage releases")
	_, err = contract.UnmarshalDocument([]byte(`{"format":`))
	if err == nil || !strings.Contains(err.Error(), "read the configuration") {
		t.Errorf("bad JSON: %v", err)
	}
}

// SLIMAGE_IMAGE and SLIMAGE_PUSH are checked against Docker's reference
// grammar without linking Docker's packages.
func TestParseImageRef(t *testing.T) {
	tests := []struct {
		in                        string
		domain, path, tag, digest string
		bad                       string
	}{
		{in: "hello", path: "hello"},
		{in: "hello:v1.2.3", path: "hello", tag: "v1.2.3"},
		{in: "library/hello_world-2:latest", path: "library/hello_world-2", tag: "latest"},
		{in: "127.0.0.1:5000/team/app:v1", domain: "127.0.0.1:5000", path: "team/app", tag: "v1"},
		{in: "localhost/app", domain: "localhost", path: "app"},
		{in: "ghcr.io/org/app@sha256:" + strings.Repeat("0", 64), domain: "ghcr.io", path: "org/app", digest: "sha256:" + strings.Repeat("0", 64)},
		{in: "golang:1.26@sha256:" + strings.Repeat("a", 64), path: "golang", tag: "1.26", digest: "sha256:" + strings.Repeat("a", 64)},
		{in: "App:v1", bad: "lower case"},
		{in: "app:", bad: "tag"},
		{in: "app:v1:v2", bad: "path element"},
		{in: "a//b", bad: "path element"},
		{in: "app@sha256:short", bad: "digest"},
		{in: "-app", bad: "path element"},
		{in: "", bad: "no repository"},
		{in: "app:" + strings.Repeat("x", 129), bad: "tag"},
	}
	for _, tt := range tests {
		r, err := config.ParseImageRef(tt.in)
		if tt.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tt.bad) {
				t.Errorf("ParseImageRef(%q) = %+v, %v; want an error about %s", tt.in, r, err, tt.bad)
			}
			continue
		}
		want := config.ImageRef{Domain: tt.domain, Path: tt.path, Tag: tt.tag, Digest: tt.digest}
		if err != nil || r != want {
			t.Errorf("ParseImageRef(%q) = %+v, %v; want %+v", tt.in, r, err, want)
		}
	}
}
