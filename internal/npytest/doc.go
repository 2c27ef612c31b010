// Package npytest reads the float32 NumPy arrays (.npy) that the project's tests use as reference
// data (fixture inputs and the outputs torch computed for them). It is for tests only.
package npytest
