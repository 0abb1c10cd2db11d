package tenant

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"logpipe/lib/apierr"
)

// HeaderAPIKey carries the API key on every request.
const HeaderAPIKey = "x-portkey-api-key"

const principalKey = "logpipe.principal"

// Authenticate resolves the request's API key and stores its Principal in the
// context; a missing or unknown key is answered 401 and the chain stops.
func Authenticate(r *Registry) gin.HandlerFunc {
	return func(c *gin.Context) {
		key := c.GetHeader(HeaderAPIKey)
		if key == "" {
			apierr.Abort(c, http.StatusUnauthorized, apierr.CodeUnauthorized, "missing API key: send it in the x-portkey-api-key header")
			return
		}
		p, ok := r.Lookup(key)
		if !ok {
			apierr.Abort(c, http.StatusUnauthorized, apierr.CodeUnauthorized, "unknown API key")
			return
		}
		c.Set(principalKey, p)
		c.Next()
	}
}

// From returns the Principal that Authenticate stored. Handlers behind
// Authenticate always have one; it panics otherwise (a wiring bug).
func From(c *gin.Context) Principal {
	return c.MustGet(principalKey).(Principal)
}
