export {
  costOf,
  createPriceTable,
  defaultPriceTable,
  loadPriceTable,
  type PriceTable,
  pricedModels,
  priceFileSchema,
} from './prices.ts';
export { builtInPrices, PRICE_TABLE_SOURCE, PRICE_TABLE_VERSION } from './table.ts';
