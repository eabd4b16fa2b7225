/** VERSION of Muster, reported by masters and agents and checked against package.json by a test. */
export const VERSION = '0.1.0';
