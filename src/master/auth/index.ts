export { ACTIONS, ANONYMOUS, authorize, can, isAction, MASTER, OPEN, type Action, type Caller, type RouterAuth } from './permissions.js';
export { callerOf, hashSecret, newSecret, secretOf } from './tokens.js';
export { masterAuth } from './http.js';
