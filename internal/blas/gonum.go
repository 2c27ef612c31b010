//go:build !cblas

package blas

// Name is the BLAS in use: "gonum" (pure Go) in a default build.
const Name = "gonum"
