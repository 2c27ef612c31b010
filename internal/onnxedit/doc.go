// Package onnxedit adds nodes and initializers to an ONNX model protobuf whose graph has been read
// into an onnximport.Graph, the rewriting that inject (noise and augmentation subgraphs) and export
// (temperature, Monte-Carlo ensemble) share.
//
// An Editor reserves every name the graph already uses, so each added node, value and initializer
// gets a unique name (a "_2", "_3", … suffix when the wanted one is taken). Added nodes are queued
// in front of all original nodes or right after one of them, and Finish writes the node list: the
// original order is kept, each original node followed by what was placed after it. Rewire makes the
// original nodes read a new value instead of an old one; nodes the Editor added are left as built.
//
// The attribute constructors (AttrFloat, AttrInt, AttrInts, AttrString) build the typed
// AttributeProto of one attribute.
package onnxedit
