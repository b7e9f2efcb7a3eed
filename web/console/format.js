// Words the console shows for values the API sends (every key a literal, so the catalogue check sees it).
import { t } from '../common/i18n.js';

const ROLES = { admin: () => t('role.admin'), operator: () => t('role.operator'), viewer: () => t('role.viewer') };
const KINDS = { agent: () => t('kind.agent'), legacy: () => t('kind.legacy') };
const LIVE = { push: () => t('live.push'), poll: () => t('live.poll'), connecting: () => t('live.connecting') };

export const roleLabel = (r) => (ROLES[r] ? ROLES[r]() : r);
export const kindLabel = (k) => (KINDS[k] ? KINDS[k]() : k);
export const liveLabel = (m) => (LIVE[m] ? LIVE[m]() : m);
export const statusLabel = (online) => (online ? t('status.online') : t('status.offline'));
export const yesNo = (v) => (v ? t('app.yes') : t('app.no'));
