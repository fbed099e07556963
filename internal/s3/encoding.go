package s3

import (
	"context"
	"net/url"
	"strings"

	"github.com/valyala/fasthttp"
	"github.com/versity/versitygw/s3err"
)

// encodingType is the listing's encoding-type parameter. versitygw does
// not pass it on, but the context it gives the backend is the request's
// fasthttp.RequestCtx; any other context (a direct call) asks for none.
// Keys may hold characters XML 1.0 cannot carry (control characters
// become U+FFFD on the wire), so clients that need them exact ask for
// "url"; any other value is refused, as S3 does.
func encodingType(ctx context.Context) (bool, error) {
	rc, ok := ctx.(*fasthttp.RequestCtx)
	if !ok {
		return false, nil
	}
	switch v := string(rc.QueryArgs().Peek("encoding-type")); v {
	case "":
		return false, nil
	case "url":
		return true, nil
	default:
		return false, s3err.InvalidArgumentError{ArgumentName: "encoding-type", ArgumentValue: v,
			Description: "Invalid Encoding Method specified in Request"}
	}
}

// urlName is S3's encoding-type=url form of a key or prefix: query
// escaping, with "/" left readable (decoders take it either way).
func urlName(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
}

// encodeAll applies urlName to each non-nil string in place.
func encodeAll(ps ...*string) {
	for _, p := range ps {
		if p != nil {
			*p = urlName(*p)
		}
	}
}
