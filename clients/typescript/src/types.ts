// Types of the API's objects (shared API.md + docs/api.md). The *_FIELDS lists exist at run time
// so that the tests can compare them with live responses; `satisfies` keeps them equal to the
// types at compile time.

export type RunStatus =
  | "awaiting_archive" | "ready" | "queued" | "running" | "succeeded" | "failed" | "canceled";

export const TERMINAL_STATUSES: readonly RunStatus[] = ["succeeded", "failed", "canceled"];

export interface ArchiveMeta {
  sizeBytes: number;
  sha256: string;
  filename?: string;
}

export interface Run {
  id: string;
  status: RunStatus;
  template: string;
  command: string | string[];
  archive: ArchiveMeta & { uploadMethod: string | null; verifiedAt: string | null };
  artifactPaths: string[];
  timeoutSeconds: number;
  keepSandbox: boolean;
  env: Record<string, string>;
  owner: unknown;
  team: unknown;
  exitCode: number | null;
  failureReason: string | null;
  createdAt: string;
  queuedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  lastSeq: number;
  artifactIds: string[];
  evidenceAvailable: boolean;
  sandbox: { id: string | null; kept: boolean };
  links: Record<string, string>;
  cancelRequested?: boolean;
  phases?: Record<string, number> | null;
}

export const RUN_FIELDS = [
  "id", "status", "template", "command", "archive", "artifactPaths", "timeoutSeconds",
  "keepSandbox", "env", "owner", "team", "exitCode", "failureReason", "createdAt", "queuedAt",
  "startedAt", "finishedAt", "lastSeq", "artifactIds", "evidenceAvailable", "sandbox", "links",
  "cancelRequested", "phases",
] as const satisfies readonly (keyof Run)[];

export interface CreateRunRequest {
  template: string;
  command: string | string[];
  archive: ArchiveMeta;
  artifactPaths?: string[];
  timeoutSeconds?: number;
  keepSandbox?: boolean;
  env?: Record<string, string>;
  team?: string;
}

export interface RunList {
  count: number;
  page: number;
  pageSize: number;
  next: string | null;
  previous: string | null;
  results: Run[];
}

export type EventType =
  | "status" | "archive_progress" | "stdout" | "stderr" | "artifact_collected"
  | "artifact_error" | "heartbeat" | "error" | "terminal";

export interface RunEvent {
  seq: number;
  type: EventType;
  timestamp: string;
  data: Record<string, any>;
}

export const EVENT_FIELDS = ["seq", "type", "timestamp", "data"] as const satisfies readonly (keyof RunEvent)[];

export interface TerminalData {
  status: RunStatus;
  exitCode: number | null;
  failureReason: string | null;
  durationSeconds: number;
  artifactIds: string[];
}

export interface EventPage {
  events: RunEvent[];
  nextAfterSeq: number;
  hasMore: boolean;
  terminal: boolean;
}

export interface Artifact {
  id: string;
  runId: string;
  path: string;
  sizeBytes: number;
  sha256: string;
  contentType: string;
  createdAt: string;
  downloadUrl: string;
}

export const ARTIFACT_FIELDS = [
  "id", "runId", "path", "sizeBytes", "sha256", "contentType", "createdAt", "downloadUrl",
] as const satisfies readonly (keyof Artifact)[];

export interface Transfer {
  id: string;
  runId: string;
  uploadUrl: string;
  chunkSizeBytes: number;
  receivedBytes: number;
  sizeBytes: number;
  status: string;
  expiresAt: string;
}

export interface Evidence {
  schema: "crownest.evidence/v1";
  runId: string;
  status: RunStatus;
  exitCode: number | null;
  failureReason: string | null;
  command: string | string[];
  template: { name: string; image: string; imageDigest: string };
  timestamps: Record<string, string | null>;
  source: Record<string, any>;
  artifacts: { id: string; path: string; sizeBytes: number; sha256: string }[];
  artifactIds: string[];
  events: { count: number; lastSeq: number; sha256: string };
  terminalEvent: RunEvent;
  sandbox: Record<string, any>;
  limits: Record<string, any>;
  /** The signed attestation of this bundle (docs/evidence.md): `sha256` is the digest of the
   * envelope bytes as served at `url`. */
  attestation: { url: string; sigstoreBundleUrl: string; keyid: string; sha256: string };
}

export const EVIDENCE_FIELDS = [
  "schema", "runId", "status", "exitCode", "failureReason", "command", "template", "timestamps",
  "source", "artifacts", "artifactIds", "events", "terminalEvent", "sandbox", "limits", "attestation",
] as const satisfies readonly (keyof Evidence)[];

export interface Template {
  name: string;
  description: string;
  image: string;
  imageDigest: string | null;
  python: string | null;
  node: string | null;
}
