/**
 * A schema name no other test run uses, for tests against the shared PostgreSQL (DATABASE_URL):
 * each test creates its schema and drops it afterwards.
 */
export function freshSchema(): string {
  return `parley_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
}
