package handlers

import "reflect"

// RenderAsOf lets the external tests render a full fold the way GET /state renders.
var RenderAsOf = renderAsOf

// BindCarefully and DecodeAcceptable are BindJSON's two paths, compared by
// FuzzOneDecodeAcceptsOnlyWhatTheCarefulPathAccepts.
var (
	BindCarefully    = func(body []byte, dst any) error { return bindCarefully(body, dst, reflect.TypeOf(dst)) }
	DecodeAcceptable = decodeAcceptable
)
