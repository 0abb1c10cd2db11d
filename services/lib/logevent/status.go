package logevent

import "strconv"

// Documented enumerations of the event.
const (
	CacheSemanticHit = "SEMANTIC HIT"
	CacheHit         = "HIT"
	CacheMiss        = "MISS"
	CacheRefreshed   = "REFRESHED"
	CacheDisabled    = "DISABLED"

	CacheTypeSimple   = "SIMPLE"
	CacheTypeSemantic = "SEMANTIC"

	StreamTrue  = "TRUE"
	StreamFalse = "FALSE"

	ModeSingle      = "SINGLE"
	ModeFallback    = "FALLBACK"
	ModeLoadbalance = "LOADBALANCE"
)

// Enumerations, for validation and the JSON Schema drift test.
var (
	CacheStatuses = []string{CacheSemanticHit, CacheHit, CacheMiss, CacheRefreshed, CacheDisabled}
	CacheTypes    = []string{"", CacheTypeSimple, CacheTypeSemantic}
	StreamModes   = []string{StreamTrue, StreamFalse}
	Modes         = []string{ModeSingle, ModeFallback, ModeLoadbalance}
	// ReplayableEndpoints are the endpoint types a log can be replayed from.
	ReplayableEndpoints = []string{"chat/completions", "completions", "embeddings"}
)

// The status strings shown for every log, spelled exactly as the product does.
const (
	StatusCacheDisabled    = "Cache Disabled"
	StatusCacheMiss        = "Cache Miss"
	StatusCacheRefreshed   = "Cache Refreshed"
	StatusCacheHit         = "Cache Hit"
	StatusCacheSemanticHit = "Cache Semantic Hit"

	StatusRetryNotTriggered = "Retry Not Triggered"
	StatusRetryFailed       = "Retry Failed"

	StatusFallbackDisabled = "Fallback Disabled"
	StatusFallbackActive   = "Fallback Active"

	StatusLoadbalancerDisabled = "Loadbalancer Disabled"
	StatusLoadbalancerActive   = "Loadbalancer Active"
)

// StatusRetrySuccess returns "Retry Success on {x} Tries".
func StatusRetrySuccess(x uint16) string {
	return "Retry Success on " + strconv.Itoa(int(x)) + " Tries"
}

// StatusFallbackTriggered returns "Fallback Triggered on Option {x}".
func StatusFallbackTriggered(x uint16) string {
	return "Fallback Triggered on Option " + strconv.Itoa(int(x))
}

// Status is the four-part status column of a log.
type Status struct {
	Cache       string `json:"cache"`
	Retry       string `json:"retry"`
	Fallback    string `json:"fallback"`
	Loadbalance string `json:"loadbalance"`
}

// Status derives the four status strings of e:
//   - Cache from cache_status;
//   - Retry: not triggered without retries, failed when retries failed, else
//     success on retry_success_count tries;
//   - Fallback: disabled unless mode is FALLBACK; triggered on option x when a
//     target after the first (1-based x ≥ 2) answered; active otherwise;
//   - Loadbalance: active when load balancing was on or mode is LOADBALANCE.
func (e *Event) Status() Status {
	var s Status
	switch e.CacheStatus {
	case CacheMiss:
		s.Cache = StatusCacheMiss
	case CacheRefreshed:
		s.Cache = StatusCacheRefreshed
	case CacheHit:
		s.Cache = StatusCacheHit
	case CacheSemanticHit:
		s.Cache = StatusCacheSemanticHit
	default:
		s.Cache = StatusCacheDisabled
	}
	switch {
	case e.RetryFailed == 1:
		s.Retry = StatusRetryFailed
	case e.RetryAttempts == 0 && e.RetrySuccessCount == 0:
		s.Retry = StatusRetryNotTriggered
	default:
		s.Retry = StatusRetrySuccess(e.RetrySuccessCount)
	}
	switch {
	case e.Mode != ModeFallback:
		s.Fallback = StatusFallbackDisabled
	case e.FallbackOption >= 2:
		s.Fallback = StatusFallbackTriggered(e.FallbackOption)
	default:
		s.Fallback = StatusFallbackActive
	}
	if e.LoadbalanceActive == 1 || e.Mode == ModeLoadbalance {
		s.Loadbalance = StatusLoadbalancerActive
	} else {
		s.Loadbalance = StatusLoadbalancerDisabled
	}
	return s
}
