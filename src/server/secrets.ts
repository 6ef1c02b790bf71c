/**
 * How the API keeps and compares its secrets (tokens, session ids, sign-in codes, CSRF
 * tokens, OIDC state): only their SHA-256 is stored, and two secrets are compared by their
 * hashes, which have one length, so the comparison takes the same time whatever was sent.
 */
import crypto from 'node:crypto';

export function sha256(secret: string): Buffer {
  return crypto.createHash('sha256').update(secret).digest();
}

/** Whether `sent` is `kept`, in constant time. */
export function sameSecret(sent: string, kept: string): boolean {
  return crypto.timingSafeEqual(sha256(sent), sha256(kept));
}
