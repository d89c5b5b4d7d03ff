// The byte budget lives in util/ (the comparator bounds its captures with it too, without importing mirror/).
export { ByteBudget } from '../util/byte-budget.js';
