// Package report is what the in-container probe (images/probe) prints and
// what verify reads, and the facts both sides check against: one
// definition, compiled into the probe and into the engine. It uses the
// standard library only, as the probe must.
package report

// Check is one row of verify's table, judged from what the probe and the
// container engine saw. A failed check carries its cause and the fix in
// one line.
type Check struct {
	Name     string `json:"name"`
	Expected string `json:"expected"`
	Got      string `json:"got"`
	Pass     bool   `json:"pass"`
	Cause    string `json:"cause,omitempty"`
}

// Report is the probe's JSON, printed by `slimage-probe report`.
type Report struct {
	Time  Time   `json:"time"`
	Zones []Zone `json:"zones,omitempty"`
	Trust Trust  `json:"trust"`
	TLS   []TLS  `json:"tls"`
	User  User   `json:"user"`
}

// Zone is whether a Go program in the image can load a zone by name.
type Zone struct {
	Name  string `json:"name"`
	Error string `json:"error,omitempty"` // "" when it loads
}

// User is who the program runs as, and whether it can write where Go puts
// temporary files.
type User struct {
	UID       int    `json:"uid"`
	GID       int    `json:"gid"`
	TempDir   string `json:"temp_dir"`
	TempError string `json:"temp_error,omitempty"` // "" when a file could be created there
}

// Listener is what the service's network namespace has bound on one of
// its exposed ports, printed by `slimage-probe listeners`.
type Listener struct {
	Port  string   `json:"port"`  // as exposed: 8080/tcp
	Addrs []string `json:"addrs"` // local addresses: 127.0.0.1:8080, [::]:8080
}

// Reach is one connection attempt from another container to the
// service's address, printed by `slimage-probe reach`.
type Reach struct {
	Addr  string `json:"addr"`
	Error string `json:"error,omitempty"` // "" when it connected
}

// Time is what a Go program in the image sees of its time zone.
type Time struct {
	TZ            string            `json:"tz"`
	TZSet         bool              `json:"tz_set"`
	Local         string            `json:"local"`
	Offsets       map[string]string `json:"offsets"`        // by Instants
	Localtime     bool              `json:"localtime"`      // /etc/localtime exists
	ZoneFile      bool              `json:"zone_file"`      // /usr/share/zoneinfo/$TZ exists
	LocaltimeSame bool              `json:"localtime_same"` // and both hold the same zone
}

// Trust is the image's trust store as Go loads it.
type Trust struct {
	Source    string   `json:"source"` // the file Go loaded roots from
	Roots     int      `json:"roots"`
	Present   []string `json:"present"` // KnownRoots found and not expired
	Expired   []string `json:"expired"`
	PoolError string   `json:"pool_error,omitempty"`
}

// TLS is one live HTTPS call from inside the image.
type TLS struct {
	URL     string `json:"url"`
	Status  int    `json:"status,omitempty"`
	Version string `json:"version,omitempty"`
	Root    string `json:"root,omitempty"`
	Error   string `json:"error,omitempty"`
	Kind    string `json:"kind,omitempty"` // "certificate" or "network"
}

// Instants at which the zone's UTC offset is reported. The 1980 and 1988
// ones tell Asia/Shanghai (+08:00, then +09:00 in China's 1986-1991 DST)
// from zones with the same offset today, such as Asia/Singapore (+07:30 in
// 1980, no DST) or a fixed +08.
var Instants = []string{"1980-01-01T00:00:00Z", "1988-07-01T00:00:00Z", "2000-01-01T00:00:00Z", "2024-07-01T00:00:00Z"}

// KnownRoots are roots that any general-purpose bundle carries, by SHA-256
// of their DER.
var KnownRoots = []struct{ Name, SHA256 string }{
	{"ISRG Root X1", "96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6"},
	{"ISRG Root X2", "69729b8e15a86efc177a57afb7171dfc64add28c2fca8cf1507e34453ccb1470"},
	{"DigiCert Global Root G2", "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f"},
	{"GlobalSign Root CA", "ebd41040e4bb3ec742c9e381d31ef2a41a48b6685c96e7cef3c1df6cd4331c99"},
	{"GTS Root R1", "d947432abde7b7fa90fc2e6b59101b1280e0e1c7e4e40fa3c6887fff57a7f4cf"},
	{"Amazon Root CA 1", "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e"},
	{"USERTrust RSA Certification Authority", "e793c9b02fd8aa13e21c31228accb08119643b749c898964b1746d46c3d4cbd2"},
	{"Microsoft RSA Root Certificate Authority 2017", "c741f70f4b2a8d88bf2e71c14122ef53ef10eba0cfa5e64cfa20f418853073e0"},
}

// CertFiles are the files Go's crypto/x509 reads on Linux, in its order:
// where the probe looks in the image, and where staging finds the host's
// bundle.
var CertFiles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
}
