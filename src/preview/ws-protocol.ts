/**
 * The preview WebSocket's subprotocols, shared by the service and the page. A page cannot set
 * an Authorization header on a WebSocket; the API token travels as a second subprotocol
 * instead (a header, so never in an access log, unlike a query string). The service always
 * answers with PREVIEW_PROTOCOL, never echoing the token.
 * @module
 */

/** The subprotocol the page asks for (first) and the service selects. */
export const PREVIEW_PROTOCOL = 'psen-preview'
/** Prefix of the subprotocol carrying the token, base64url-encoded (valid protocol chars). */
export const TOKEN_PROTOCOL_PREFIX = 'psen-token.'
/** Close code and reason when the service already serves its maximum of preview clients. */
export const CLOSE_TOO_MANY = 1013
