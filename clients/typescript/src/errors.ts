// Every API error body is {"error": {code, message, details}} (ErrorEnvelope in the schema);
// each becomes a typed ApiError.

import type { ErrorEnvelope } from "./types.js";

export class CrownestError extends Error {}

export class ApiError extends CrownestError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, any> = {},
    readonly retryAfter: string | null = null,
  ) {
    super(`${status} ${code}: ${message}`);
    this.name = new.target.name;
  }
}

export class InvalidRequest extends ApiError {}
export class NotAuthenticated extends ApiError {}
/** You may see the run but not do this to it (a review by someone who is not a lead). */
export class Forbidden extends ApiError {}
export class NotFound extends ApiError {}
export class InvalidState extends ApiError {}
export class ArchiveRequired extends ApiError {}
export class EvidenceNotReady extends ApiError {}
export class Throttled extends ApiError {}
/** Run minutes or stored bytes of a user or team are used up (details: quota, scope, name,
 * used, limit, resetsAt); wait Retry-After seconds, or free space first. */
export class QuotaExceeded extends ApiError {}
/** The archive itself was refused (size, type, digest, unsafe member). */
export class ArchiveRejected extends ApiError {}
export class ArchiveTooLarge extends ArchiveRejected {
  get useStagedTransfer(): boolean {
    return Boolean(this.details.useStagedTransfer);
  }
}
/** A chunk did not continue at the server's offset; resume from receivedBytes. */
export class TransferConflict extends ApiError {
  get receivedBytes(): number {
    return Number(this.details.receivedBytes);
  }
}
/** The event stream could not be resumed within the retry budget. */
export class StreamError extends CrownestError {}
/** The Evidence Bundle's JCS digest is not the `X-Evidence-Sha256` it was served with. */
export class EvidenceDigestMismatch extends CrownestError {}

const BY_CODE: Record<string, typeof ApiError> = {
  invalid_request: InvalidRequest,
  not_authenticated: NotAuthenticated,
  forbidden: Forbidden,
  not_found: NotFound,
  invalid_state: InvalidState,
  archive_required: ArchiveRequired,
  evidence_not_ready: EvidenceNotReady,
  throttled: Throttled,
  quota_exceeded: QuotaExceeded,
  archive_too_large: ArchiveTooLarge,
  unsupported_archive: ArchiveRejected,
  archive_digest_mismatch: ArchiveRejected,
  archive_size_mismatch: ArchiveRejected,
  archive_unsafe: ArchiveRejected,
  transfer_offset_mismatch: TransferConflict,
};

export async function errorFromResponse(resp: Response): Promise<ApiError> {
  const text = await resp.text();
  let code = `http_${resp.status}`, message = text.slice(0, 500), details: Record<string, any> = {};
  try {
    const body = (JSON.parse(text) as Partial<ErrorEnvelope>).error;
    if (body && typeof body.code === "string") {
      ({ code, message = "", details = {} } = body);
    }
  } catch {
    // not our error shape (a proxy, a crash page): keep the status
  }
  let cls = BY_CODE[code];
  if (!cls && resp.status === 409 && details && "receivedBytes" in details) cls = TransferConflict;
  return new (cls ?? ApiError)(resp.status, code, message, details ?? {}, resp.headers.get("Retry-After"));
}
