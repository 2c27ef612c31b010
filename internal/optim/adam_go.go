//go:build purego || !cgo

package optim

// adamImpl says which Adam update this build runs.
const adamImpl = "Go"

// adamUpdate is adamGo in a pure-Go build.
func adamUpdate(w, g, m, v []float32, k *adamConsts) { adamGo(w, g, m, v, k) }
