import { compileMatcher } from '../../src/matcher/compile.js'
import { linearMatcher } from '../../src/matcher/linear.js'
import { matcherContract } from './contract.js'

matcherContract('indexed', compileMatcher)
matcherContract('linear', linearMatcher)
