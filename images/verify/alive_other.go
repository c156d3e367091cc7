//go:build !unix

package verify

// alive cannot tell here, so it says yes: another run's containers are
// then left to that run (or to a run on a unix host).
func alive(int) bool { return true }
