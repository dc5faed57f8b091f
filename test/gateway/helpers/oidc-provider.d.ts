/** oidc-provider ships no types; the tests use it as an opaque external issuer. */
declare module 'oidc-provider' {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const Provider: any;
  export default Provider;
}
