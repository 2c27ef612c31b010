// Package testutil holds what the project's tests share: the fixture manifests under
// testdata/models and comparisons of float slices. It is imported by tests only.
package testutil
