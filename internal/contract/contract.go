// Package contract is what the front (the mage targets) and the engine (the
// child process that builds and verifies images) say to each other: the
// configuration, resolved, with what build made (Config.Built), in one
// document with a format version, and the engine's one-line error. Both
// modules import it; nothing else crosses.
package contract

import (
	"encoding/json"
	"fmt"

	"github.com/slimage/slimage/config"
)

// DocumentFormat names the version of Document's JSON. The engine refuses
// any other, so a front and an engine that disagree on the configuration
// never run together.
const DocumentFormat = "slimage.config/v3"

// Document is how the front hands the configuration to the engine (the
// child process that builds and verifies images): the one way, in the
// environment variable EngineConfigVar.
type Document struct {
	Format   string         `json:"format"`
	Slimage  string         `json:"slimage"`  // the front's module version, "(local)" for a folder
	Verbose  bool           `json:"verbose"`  // mage -v
	Resolved bool           `json:"resolved"` // Config went through Resolve (not so for verifyImage)
	Config   *config.Config `json:"config"`
}

// EngineConfigVar is the environment variable that carries the Document.
const EngineConfigVar = "SLIMAGE_ENGINE_CONFIG"

// EngineErrorPrefix starts the engine's last stderr line when a step fails;
// the front takes the rest of that line as the target's error.
const EngineErrorPrefix = "slimage-engine error: "

// MarshalDocument encodes c for the engine.
func MarshalDocument(c *config.Config, slimageVersion string, verbose bool) ([]byte, error) {
	return json.Marshal(Document{Format: DocumentFormat, Slimage: slimageVersion, Verbose: verbose, Resolved: c.Resolved(), Config: c})
}

// UnmarshalDocument decodes what MarshalDocument wrote; a resolved
// configuration stays resolved, so the engine never asks the go command
// again.
func UnmarshalDocument(data []byte) (*Document, error) {
	var d Document
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("read the configuration from the front: %w", err)
	}
	if d.Format != DocumentFormat {
		return nil, fmt.Errorf("read the configuration from the front: format %q, this engine reads %q: the front and the engine come from different slimage releases; run the engine that the front builds", d.Format, DocumentFormat)
	}
	if d.Config == nil {
		return nil, fmt.Errorf("read the configuration from the front: no config in it")
	}
	if d.Resolved {
		d.Config.MarkResolved()
	}
	return &d, nil
}
