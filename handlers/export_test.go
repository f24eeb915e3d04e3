package handlers

// RenderAsOf lets the external tests render a full fold the way GET /state renders.
var RenderAsOf = renderAsOf
