export { errorCodes, type ErrorCode } from "./codes.js";
export { MoestroError, isAbortError, type MoestroErrorOptions } from "./moestro-error.js";
export { usageSoFarOf, withUsageSoFar } from "./usage-so-far.js";
