//go:build purego || !cgo

package blas

// Name is the BLAS in use: "gonum" (pure Go) in a purego or non-cgo build.
const Name = "gonum"
