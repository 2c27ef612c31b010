package ort

// FindLibrary exposes the library search to the external tests.
var FindLibrary = findLibrary
