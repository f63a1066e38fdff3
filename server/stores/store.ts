// The store's name before server/stores/ was split; callers move to SessionStore (./contract).
export type { SessionStore as BffSessionStore } from './contract';
export { StoreUnavailableError } from './errors';
