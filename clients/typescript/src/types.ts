// Types of the API's objects: named views of src/schema.ts, which openapi-typescript generates
// from the served OpenAPI schema (`npm run gen-types`; CI fails when it is stale). The *_FIELDS
// lists exist at run time so that the tests can compare them with live responses; `satisfies`
// keeps them equal to the generated types at compile time.

import type { components, operations } from "./schema.js";

type Schemas = components["schemas"];

export type RunStatus = Schemas["RunStatus"];
export type FailureReason = Schemas["FailureReason"];
export const TERMINAL_STATUSES: readonly RunStatus[] = ["succeeded", "failed", "canceled"];

/** The archive a new run declares (`archive` of createRun). */
export type ArchiveMeta = Schemas["ArchiveDeclaration"];
export type Command = Schemas["Command"];
export type Run = Schemas["Run"];
export type CreateRunRequest = Schemas["RunCreate"];
/** `GET /api/v1/workspace-runs`: one page. */
export type RunList = Schemas["RunPage"];
export type NetworkPage = Schemas["NetworkPage"];
export type NetworkRequest = Schemas["NetworkRequest"];
export type ListRunsQuery = NonNullable<operations["listRuns"]["parameters"]["query"]>;

export const RUN_FIELDS = [
  "id", "status", "template", "command", "archive", "artifactPaths", "timeoutSeconds",
  "keepSandbox", "env", "owner", "team", "exitCode", "failureReason", "createdAt", "queuedAt",
  "startedAt", "finishedAt", "lastSeq", "artifactIds", "evidenceAvailable", "sandbox", "links",
  "cancelRequested", "phases", "rerunOf", "pinned", "imageDigest", "network", "resources", "queue",
] as const satisfies readonly (keyof Run)[];

/** One event of a run's log: a union told apart by `type`, each with its own `data`. */
export type RunEvent = Schemas["RunEvent"];
export type EventType = RunEvent["type"];
/** The event of one type, e.g. `EventOf<"stdout">` has `data: {text}`. */
export type EventOf<T extends EventType> = Extract<RunEvent, { type: T }>;
export type TerminalData = Schemas["TerminalEventData"];
export type EventPage = Schemas["EventPage"];

export const EVENT_FIELDS = ["seq", "type", "timestamp", "data"] as const satisfies readonly (keyof RunEvent)[];

export type Artifact = Schemas["Artifact"];
export const ARTIFACT_FIELDS = [
  "id", "runId", "path", "sizeBytes", "sha256", "contentType", "createdAt", "downloadUrl",
  "expiredAt",
] as const satisfies readonly (keyof Artifact)[];

export type Transfer = Schemas["Transfer"];
/** A page of presigned part URLs (`GET /api/v1/transfers/{id}/parts?from=N`). */
export type TransferParts = Schemas["TransferParts"];
export type PartUrl = Schemas["PartUrl"];

/** The Evidence Bundle. Its `attestation` (docs/evidence.md) names the signed envelope: `sha256`
 * is the digest of the envelope bytes as served at `url`. */
export type Evidence = Schemas["Evidence"];
export const EVIDENCE_FIELDS = [
  "schema", "canonicalization", "runId", "status", "exitCode", "failureReason", "command",
  "template", "timestamps", "source", "artifacts", "artifactIds", "events", "terminalEvent",
  "sandbox", "limits", "network", "attestation",
] as const satisfies readonly (keyof Evidence)[];

export type Template = Schemas["Template"];
/** A team of the caller's, with their role and the quotas in force (null: no limit). */
export type Team = Schemas["Team"];
export type Quotas = Schemas["Quotas"];
/** One user's or team's usage against each limit (`GET /api/v1/usage`). */
export type Usage = Schemas["Usage"];
export type Review = Schemas["Review"];
export type ReviewRequest = Schemas["ReviewCreate"];
export type Health = Schemas["Health"];
/** The body of every error answer: `{error: {code, message, details}}`. */
export type ErrorEnvelope = Schemas["ErrorEnvelope"];
